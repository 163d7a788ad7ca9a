// The graph page: fetch the elements the server built (auditor/graph.py) and draw them.
// No graph logic lives here: which nodes, edges, labels, facts, links and layout to use
// all come in the JSON. window.netpolGraph is the Cytoscape instance, for tests and
// for anyone poking at the page from the console.
(function () {
  "use strict";
  const canvas = document.getElementById("graph");
  if (!canvas) return;
  const status = document.getElementById("graph-status");
  const notes = document.getElementById("graph-notes");
  const empty = document.getElementById("graph-empty");
  const detail = document.getElementById("graph-detail");
  const LABELLED_EDGES = 80; // above this many edges, labels show on hover and selection only

  const STYLE = [
    { selector: "node", style: {
      label: "data(label)", "font-size": 11, color: "#1d2330", "text-valign": "bottom", "text-margin-y": 4,
      "text-wrap": "ellipsis", "text-max-width": 150, "background-color": "#2f5bd3", width: 24, height: 24 } },
    { selector: "node.namespace", style: { shape: "round-rectangle", width: 34, height: 24 } },
    { selector: "node.workload", style: {
      shape: "ellipse", "background-color": "#5b7fe0", width: 22, height: 22, "text-wrap": "wrap" } },
    { selector: "node.peer", style: { "background-color": "#9db4ef" } },
    { selector: "node.group", style: {
      shape: "round-rectangle", "background-color": "#5b6b8c", width: 48, height: 32,
      "border-width": 4, "border-style": "double", "border-color": "#5b6b8c" } },
    { selector: "node.external", style: { shape: "diamond", "background-color": "#98a2b3", width: 26, height: 26 } },
    { selector: "node.exposed", style: { "background-color": "#d64545" } },
    { selector: "node.partial", style: { "border-width": 3, "border-color": "#e07b00", "border-style": "solid" } },
    { selector: "node.uncovered", style: { "border-width": 4, "border-color": "#b42318", "border-style": "dashed" } },
    { selector: "node.hostnet", style: {
      "background-color": "#d0d5dd", "border-width": 2, "border-style": "dotted", "border-color": "#667085" } },
    { selector: "node.focus", style: { width: 46, height: 32, "font-weight": 700, "font-size": 13 } },
    { selector: "node:selected", style: { "overlay-color": "#2f5bd3", "overlay-opacity": 0.25, "overlay-padding": 6 } },
    { selector: "edge", style: {
      width: 1.5, "line-color": "#98a2b3", "target-arrow-color": "#98a2b3", "target-arrow-shape": "triangle",
      "curve-style": "bezier", "arrow-scale": 0.8 } },
    { selector: "edge.external", style: { "line-color": "#e07b7b", "target-arrow-color": "#e07b7b", "line-style": "dashed" } },
    { selector: "edge.labelled, edge.hover, edge:selected", style: {
      label: "data(label)", "font-size": 9, color: "#344054", "text-rotation": "autorotate",
      "text-background-color": "#fff", "text-background-opacity": 0.85, "text-background-padding": 2 } },
    { selector: "edge:selected", style: { width: 3, "line-color": "#2f5bd3", "target-arrow-color": "#2f5bd3" } },
    { selector: ".faded", style: { opacity: 0.15 } },
  ];

  const LAYOUTS = {
    cose: { name: "cose", animate: false, padding: 30, randomize: true, nodeDimensionsIncludeLabels: true,
            nodeRepulsion: function () { return 400000; }, idealEdgeLength: function () { return 110; },
            edgeElasticity: function () { return 80; }, gravity: 0.4, numIter: 2000, componentSpacing: 80 },
    concentric: { name: "concentric", animate: false, padding: 20, minNodeSpacing: 6,
                  concentric: function (node) { return node.degree(); }, levelWidth: function () { return 3; } },
    rings: { name: "concentric", animate: false, padding: 20, minNodeSpacing: 18, nodeDimensionsIncludeLabels: true,
             spacingFactor: 1.2,
             concentric: function (node) { return node.data("ring"); }, levelWidth: function () { return 1; } },
    grid: { name: "grid", animate: false, padding: 20, avoidOverlap: true },
  };

  function say(element, text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    element.appendChild(p);
  }

  function showEmpty(text, isError) {
    empty.hidden = false;
    empty.classList.toggle("error", Boolean(isError));
    empty.querySelector("p").textContent = text;
  }

  function showDetail(data, title) {
    detail.hidden = false;
    document.getElementById("graph-detail-title").textContent = title;
    const facts = document.getElementById("graph-detail-facts");
    const links = document.getElementById("graph-detail-links");
    facts.replaceChildren();
    links.replaceChildren();
    (data.facts || []).forEach(function (fact) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = fact[0];
      dd.textContent = fact[1];
      facts.append(dt, dd);
    });
    (data.links || []).forEach(function (link) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = link.url;
      a.textContent = link.text;
      li.appendChild(a);
      links.appendChild(li);
    });
  }

  function draw(data) {
    window.netpolGraphData = data;
    (data.notes || []).forEach(function (note) { say(notes, note, "card warning"); });
    if (data.empty) showEmpty(data.empty, false);
    const nodes = data.elements.nodes;
    if (!nodes.length) {
      canvas.hidden = true;
      return;
    }
    status.remove();
    if (data.elements.edges.length <= LABELLED_EDGES) {
      data.elements.edges.forEach(function (edge) { edge.classes = (edge.classes + " labelled").trim(); });
    }
    const cy = cytoscape({
      container: canvas,
      elements: data.elements,
      style: STYLE,
      layout: LAYOUTS[data.layout] || LAYOUTS.grid,
      minZoom: 0.05,
      maxZoom: 4,
    });
    // A graph of a few nodes would be fitted at a giant zoom: keep it readable.
    if (cy.zoom() > 1.5) {
      cy.zoom(1.5);
      cy.center();
    }
    window.netpolGraph = cy;
    canvas.dataset.state = "ready";

    cy.on("tap", "node", function (evt) {
      showDetail(evt.target.data(), evt.target.data("label"));
    });
    cy.on("tap", "edge", function (evt) {
      const d = evt.target.data();
      showDetail(d, evt.target.source().data("label") + " → " + evt.target.target().data("label"));
    });
    cy.on("tap", function (evt) {
      if (evt.target === cy) detail.hidden = true;
    });
    // Double-click a namespace: open its workload graph (a page of its own, so Back works).
    cy.on("dbltap", "node", function (evt) {
      const url = evt.target.data("graph_url");
      if (url && evt.target.data("namespace") !== canvas.dataset.namespace) window.location.assign(url);
    });
    // Hover: light up a node's flows and fade the rest, which keeps big graphs readable.
    cy.on("mouseover", "node", function (evt) {
      const near = evt.target.closedNeighborhood();
      cy.elements().not(near).addClass("faded");
      near.edges().addClass("hover");
    });
    cy.on("mouseout", "node", function () {
      cy.elements().removeClass("faded").removeClass("hover");
    });
  }

  fetch(canvas.dataset.elementsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.error || "The server answered " + response.status + ".");
        return body;
      });
    })
    .then(draw)
    .catch(function (error) {
      canvas.hidden = true;
      showEmpty(error.message, true);
    });
})();
