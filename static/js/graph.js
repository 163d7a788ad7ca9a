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
    // Labels at 13 px on a white backing: legible at 100% zoom and above the edges.
    { selector: "node", style: {
      label: "data(label)", "font-size": 13, color: "#1d2330", "text-valign": "bottom", "text-margin-y": 4,
      "text-wrap": "ellipsis", "text-max-width": 170, "background-color": "#2f5bd3", width: 24, height: 24,
      "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": 2,
      "text-background-shape": "round-rectangle", "min-zoomed-font-size": 0 } },
    { selector: "node.namespace", style: { shape: "round-rectangle", width: 34, height: 24 } },
    { selector: "node.workload", style: {
      shape: "ellipse", "background-color": "#5b7fe0", width: 22, height: 22, "text-wrap": "wrap" } },
    { selector: "node.peer", style: { "background-color": "#9db4ef" } },
    { selector: "node.group", style: {
      shape: "round-rectangle", "background-color": "#5b6b8c", width: 48, height: 32,
      "border-width": 4, "border-style": "double", "border-color": "#5b6b8c" } },
    { selector: "node.nsgroup", style: {
      shape: "round-rectangle", "background-color": "#7d93d8", width: 44, height: 30, "text-wrap": "wrap",
      "border-width": 2, "border-color": "#2f5bd3" } },
    { selector: "node.nsgroup-open", style: {
      shape: "round-rectangle", "background-color": "#eef2fd", "background-opacity": 1, "border-width": 2,
      "border-color": "#7d93d8", "text-valign": "top", "text-margin-y": -4, "font-weight": 700, padding: 14,
      "text-max-width": 600 } },
    { selector: "node.external", style: { shape: "diamond", "background-color": "#98a2b3", width: 26, height: 26 } },
    { selector: "node.exposed", style: { "background-color": "#d64545" } },
    { selector: "node.partial", style: { "border-width": 3, "border-color": "#e07b00", "border-style": "solid" } },
    { selector: "node.uncovered", style: { "border-width": 4, "border-color": "#b42318", "border-style": "dashed" } },
    { selector: "node.hostnet", style: {
      "background-color": "#d0d5dd", "border-width": 2, "border-style": "dotted", "border-color": "#667085" } },
    { selector: "node.found", style: { "overlay-color": "#f5b700", "overlay-opacity": 0.45, "overlay-padding": 8 } },
    { selector: "node.focus", style: { width: 46, height: 32, "font-weight": 700, "font-size": 13 } },
    { selector: "node.other-team", style: { "background-opacity": 0.35, "border-width": 2, "border-color": "#98a2b3" } },
    { selector: "node:selected", style: { "overlay-color": "#2f5bd3", "overlay-opacity": 0.25, "overlay-padding": 6 } },
    { selector: "edge", style: {
      width: 1.5, "line-color": "#98a2b3", "target-arrow-color": "#98a2b3", "target-arrow-shape": "triangle",
      "curve-style": "bezier", "arrow-scale": 0.8 } },
    { selector: "edge.external", style: { "line-color": "#e07b7b", "target-arrow-color": "#e07b7b", "line-style": "dashed" } },
    { selector: "edge.labelled, edge.hover, edge:selected", style: {
      label: "data(label)", "font-size": 12, color: "#344054", "text-rotation": "autorotate",
      "text-background-color": "#fff", "text-background-opacity": 0.85, "text-background-padding": 2 } },
    { selector: "edge:selected", style: { width: 3, "line-color": "#2f5bd3", "target-arrow-color": "#2f5bd3" } },
    { selector: ".faded", style: { opacity: 0.15 } },
    { selector: "edge.quiet", style: { display: "none" } },
  ];

  const LAYOUTS = {
    cose: { name: "cose", animate: false, padding: 30, randomize: true, nodeDimensionsIncludeLabels: true,
            nestingFactor: 1.2,
            nodeRepulsion: function () { return 250000; }, idealEdgeLength: function () { return 90; },
            edgeElasticity: function () { return 80; }, gravity: 0.4, numIter: 2000, componentSpacing: 80 },
    concentric: { name: "concentric", animate: false, padding: 20, minNodeSpacing: 6,
                  concentric: function (node) { return node.degree(); }, levelWidth: function () { return 3; } },
    rings: { name: "concentric", animate: false, padding: 20, minNodeSpacing: 18, nodeDimensionsIncludeLabels: true,
             spacingFactor: 1.2,
             concentric: function (node) { return node.data("ring"); }, levelWidth: function () { return 1; } },
    grid: { name: "grid", animate: false, padding: 20, avoidOverlap: true },
  };

  const READABLE_ZOOM = 0.9; // below this, 13 px labels drop under 11 px on screen

  // Cytoscape's force layout starts from Math.random: seeded from the node ids, the same
  // snapshot and filters lay out the same way on every load.
  function seeded(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    return function () {
      h = (h + 0x6d2b79f5) | 0;
      let t = Math.imul(h ^ (h >>> 15), 1 | h);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function runLayout(cy, elements, options) {
    const random = Math.random;
    Math.random = seeded(cy.nodes().map(function (n) { return n.id(); }).join("|"));
    try {
      elements.layout(options).run();
    } finally {
      Math.random = random;
    }
  }

  // A dense graph (its edges drawn only around one node) is placed in reading order, risk
  // first as the server sent it: rows as wide as the canvas holds at a legible zoom, an
  // open group as one block holding its namespaces. Nothing overlaps, labels included.
  const CELL_W = 190, CELL_H = 80;
  function flow(cy) {
    const width = Math.max(3 * CELL_W, canvas.clientWidth - 40);  // drawn at 100%
    const perRow = function (count) { return Math.max(1, Math.min(count, Math.floor(width / CELL_W))); };
    let x = 0, y = 0, rowHeight = 0;
    function place(w, h) {
      if (x > 0 && x + w > width) { x = 0; y += rowHeight; rowHeight = 0; }
      const at = { x: x, y: y };
      x += w;
      rowHeight = Math.max(rowHeight, h);
      return at;
    }
    cy.batch(function () {
      cy.nodes().filter(function (n) { return !n.isChild(); }).forEach(function (node) {
        if (!node.isParent()) {
          const at = place(CELL_W, CELL_H);
          node.position({ x: at.x + CELL_W / 2, y: at.y + CELL_H / 2 });
          return;
        }
        const children = node.children();
        const cols = perRow(children.length);
        const rows = Math.ceil(children.length / cols);
        // Start the block on a row of its own, so its box never covers a neighbour.
        const at = place(width + 1, rows * CELL_H + 50);
        children.forEach(function (child, i) {
          child.position({ x: at.x + (i % cols) * CELL_W + CELL_W / 2, y: at.y + 30 + Math.floor(i / cols) * CELL_H + CELL_H / 2 });
        });
        x = width + 1; // the next node starts a new row
      });
    });
  }

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
    if (data.quiet_edges) {
      data.elements.edges.forEach(function (edge) { edge.classes = (edge.classes + " quiet").trim(); });
    } else if (data.elements.edges.length <= LABELLED_EDGES) {
      data.elements.edges.forEach(function (edge) { edge.classes = (edge.classes + " labelled").trim(); });
    }
    // Big graphs get a taller canvas, so that fitting them keeps the labels readable.
    canvas.style.height = Math.max(canvas.clientHeight, Math.min(1500, 360 + 9 * nodes.length)) + "px";
    const cy = cytoscape({
      container: canvas,
      elements: data.elements,
      style: STYLE,
      minZoom: 0.05,
      maxZoom: 4,
      wheelSensitivity: 0.3,
    });
    if (data.layout === "flow") {
      flow(cy);
    } else {
      runLayout(cy, cy.elements(), LAYOUTS[data.layout] || LAYOUTS.grid);
    }
    cy.fit(undefined, 30);
    // A graph of a few nodes would be fitted at a giant zoom, a big one at a tiny one;
    // rows of a dense graph are drawn at 100%, from the top.
    if (data.layout === "flow") {
      cy.zoom(1);
      const box = cy.elements().boundingBox();
      cy.pan({ x: (canvas.clientWidth - box.w) / 2 - box.x1, y: 20 - box.y1 });
    } else if (cy.zoom() > 1.5) {
      cy.zoom(1.5);
      cy.center();
    } else if (cy.zoom() < READABLE_ZOOM) {
      // Legible zoom, the top of the graph in view, centred across when it fits.
      cy.zoom(READABLE_ZOOM);
      const box = cy.elements().boundingBox();
      const width = box.w * READABLE_ZOOM;
      const left = width < canvas.clientWidth ? (canvas.clientWidth - width) / 2 : 20;
      cy.pan({ x: left - box.x1 * READABLE_ZOOM, y: 20 - box.y1 * READABLE_ZOOM });
      searchStatus.textContent = "Zoomed to " + Math.round(READABLE_ZOOM * 100) + "% so labels stay legible: drag to pan, Fit shows it all.";
    }
    window.netpolGraph = cy;
    wireToolbar(cy, data);
    showRisk(data);
    const focus = new URLSearchParams(window.location.search).get("focus");
    if (focus) find(cy, data, focus);
    canvas.dataset.state = "ready";

    cy.on("tap", "node", function (evt) {
      showDetail(evt.target.data(), evt.target.data("label"));
      if (data.quiet_edges) {
        cy.edges().addClass("quiet");
        evt.target.connectedEdges().removeClass("quiet").addClass("hover");
      }
    });
    cy.on("tap", "edge", function (evt) {
      const d = evt.target.data();
      showDetail(d, evt.target.source().data("label") + " → " + evt.target.target().data("label"));
    });
    cy.on("tap", function (evt) {
      if (evt.target !== cy) return;
      detail.hidden = true;
      if (data.quiet_edges) cy.edges().addClass("quiet").removeClass("hover");
    });
    // Double-click a namespace: open its workload graph; a group: open or close it (a page
    // of its own, so Back works). A tap inside an open group's box reaches the box too.
    cy.on("dbltap", "node", function (evt) {
      const url = evt.target.data("graph_url");
      if (url && evt.target.data("namespace") !== canvas.dataset.namespace) window.location.assign(url);
    });
    // Hover: light up a node's flows and fade the rest, which keeps big graphs readable.
    cy.on("mouseover", "node", function (evt) {
      const near = evt.target.closedNeighborhood();
      cy.elements().not(near).addClass("faded");
      near.edges().addClass("hover").removeClass("quiet");
    });
    cy.on("mouseout", "node", function () {
      cy.elements().removeClass("faded").removeClass("hover");
      if (data.quiet_edges) cy.edges().not(cy.$("node:selected").connectedEdges()).addClass("quiet");
    });
  }

  const searchStatus = document.getElementById("graph-search-status");

  function wireToolbar(cy, data) {
    const step = 1.25;
    function zoomBy(factor) {
      cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 } });
    }
    document.getElementById("graph-zoom-in").addEventListener("click", function () { zoomBy(step); });
    document.getElementById("graph-zoom-out").addEventListener("click", function () { zoomBy(1 / step); });
    document.getElementById("graph-fit").addEventListener("click", function () { cy.fit(undefined, 30); searchStatus.textContent = ""; });
    document.getElementById("graph-actual").addEventListener("click", function () { cy.zoom(1); cy.center(); });
    const names = document.getElementById("graph-search-names");
    const seen = new Set();
    cy.nodes().forEach(function (node) {
      const label = node.data("namespace") || node.data("label");
      if (label && !seen.has(label)) { seen.add(label); names.appendChild(new Option(label)); }
    });
    Object.keys((data.groups && data.groups.where) || {}).forEach(function (name) {
      if (!seen.has(name)) { seen.add(name); names.appendChild(new Option(name)); }
    });
    document.getElementById("graph-search").addEventListener("submit", function (evt) {
      evt.preventDefault();
      find(cy, data, document.getElementById("graph-search-input").value.trim());
    });
  }

  // Search-to-focus: a drawn node is selected, centred at a legible zoom and detailed; a
  // namespace inside a closed group opens that group (a new page) focused on it.
  function find(cy, data, text) {
    if (!text) return;
    cy.nodes().removeClass("found");
    const lower = text.toLowerCase();
    const nodes = cy.nodes().filter(function (n) { return !n.isParent(); });
    let hit = nodes.filter(function (n) { return n.data("namespace") === text || n.data("label") === text || n.id() === text; });
    if (!hit.length) hit = nodes.filter(function (n) { return String(n.data("label")).toLowerCase().includes(lower); });
    const where = (data.groups && data.groups.where) || {};
    if (!hit.length && Object.prototype.hasOwnProperty.call(where, text)) {
      if (!where[text]) {
        searchStatus.textContent = text + " is not drawn (over the node limit): open its namespace page or the matrix.";
        return;
      }
      const url = new URL(window.location.href);
      const open = (url.searchParams.get("expand") || "").split(",").filter(Boolean);
      open.push(where[text].slice(4));
      url.searchParams.set("expand", open.join(","));
      url.searchParams.set("focus", text);
      window.location.assign(url.toString());
      return;
    }
    if (!hit.length) {
      searchStatus.textContent = "No node matches “" + text + "”.";
      return;
    }
    const node = hit[0];
    cy.elements().unselect();
    node.select().addClass("found");
    cy.animate({ center: { eles: node }, zoom: Math.max(cy.zoom(), 1.2) }, { duration: 0 });
    showDetail(node.data(), node.data("label"));
    searchStatus.textContent = hit.length > 1 ? hit.length + " nodes match; showing " + node.data("label") + "." : "";
  }

  function showRisk(data) {
    const panel = document.getElementById("graph-risk");
    if (!panel || !data.risk || !data.risk.count) return;
    panel.hidden = false;
    const rows = data.risk.rows;
    document.getElementById("graph-risk-count").textContent =
      data.risk.count + " namespaces accept traffic from outside or have no pod isolated" +
      (data.risk.count > rows.length ? "; the first " + rows.length + " are listed." : ".");
    const list = document.getElementById("graph-risk-list");
    rows.forEach(function (row) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = row.url;
      a.textContent = row.namespace;
      const what = [];
      if (row.exposed) what.push("exposed");
      if (row.uncovered) what.push("uncovered");
      const small = document.createElement("small");
      small.className = "muted";
      small.textContent = " " + what.join(", ") + " · " + row.group;
      li.append(a, small);
      list.appendChild(li);
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
