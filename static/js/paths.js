// The attack-paths page: draw the paths the server found, at the places it chose
// (webui/views/paths.py _drawing), so the same answer looks the same on every load.
// window.netpolPaths is the Cytoscape instance, for tests.
(function () {
  "use strict";
  const canvas = document.getElementById("paths-graph");
  const data = document.getElementById("paths-drawing");
  if (!canvas || !data) return;
  const drawing = JSON.parse(data.textContent);
  const elements = drawing.nodes.map((n) => ({
    group: "nodes", data: { id: n.id, label: n.label }, position: { x: n.x, y: n.y }, classes: n.kind,
  })).concat(drawing.edges.map((e) => ({ group: "edges", data: e })));
  const cy = window.cytoscape({
    container: canvas,
    elements: elements,
    layout: { name: "preset", fit: true, padding: 40 },
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        label: "data(label)", "font-size": 13, color: "#1d2330", "text-valign": "bottom", "text-margin-y": 4,
        "text-wrap": "wrap", "text-max-width": 220, "background-color": "#5b7fe0", width: 24, height: 24,
        "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": 2,
        "min-zoomed-font-size": 0 } },
      { selector: "node.internet", style: { shape: "diamond", "background-color": "#b42318", width: 30, height: 30 } },
      { selector: "node.jewel", style: { shape: "star", "background-color": "#b54708", width: 34, height: 34 } },
      { selector: "edge", style: {
        width: 2, "line-color": "#98a2b3", "target-arrow-color": "#667085", "target-arrow-shape": "triangle",
        "curve-style": "bezier", label: "data(label)", "font-size": 12, color: "#344054",
        "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": 2 } },
    ],
  });
  // Never smaller than 100%: labels stay legible; a wide answer scrolls by dragging.
  if (cy.zoom() > 1.4) cy.zoom({ level: 1.4, position: cy.nodes()[0].position() });
  if (cy.zoom() < 1) { cy.zoom(1); cy.pan({ x: 40, y: 40 }); }
  canvas.dataset.state = "ready";
  window.netpolPaths = cy;
})();
