// The console's own script: charts drawn from a JSON spec, each with a table of the same
// figures (the chart's text alternative). No inline script anywhere (the CSP forbids it).
//
// A chart is a <figure class="chart" data-chart-spec="/url"> (the `chart` macro); its spec:
//   {"type": "line" | "bar", "labels": [...], "datasets": [{"label": "...", "data": [...]}],
//    "x_label": "...", "y_label": "..."}
// A page may change data-chart-spec (a range or filter form) and call
// window.ysConsole.drawChart(figure) — or send htmx's "ys:redraw" event to the figure.
(function () {
  "use strict";

  var PALETTE = ["#0b4f9c", "#c75400", "#1d6b2f", "#6a3d9a", "#a4161a", "#4a5360"];
  var charts = new WeakMap();

  function text(tag, value) {
    var el = document.createElement(tag);
    el.textContent = value == null ? "—" : String(value);
    return el;
  }

  function renderTable(holder, spec, title) {
    var table = document.createElement("table");
    table.appendChild(text("caption", title + ": the figures"));
    var head = document.createElement("tr");
    head.appendChild(text("th", spec.x_label || ""));
    spec.datasets.forEach(function (ds) { head.appendChild(text("th", ds.label)); });
    var thead = document.createElement("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = document.createElement("tbody");
    spec.labels.forEach(function (label, i) {
      var row = document.createElement("tr");
      var th = text("th", label);
      th.setAttribute("scope", "row");
      row.appendChild(th);
      spec.datasets.forEach(function (ds) { row.appendChild(text("td", ds.data[i])); });
      body.appendChild(row);
    });
    if (!spec.labels.length) {
      var empty = document.createElement("tr");
      var cell = text("td", "No figures for this range.");
      cell.colSpan = spec.datasets.length + 1;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
    table.appendChild(body);
    // narrow screens scroll the table, not the page; the keyboard can reach the scroller
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", title + ": the figures");
    wrap.appendChild(table);
    holder.replaceChildren(wrap);
  }

  function chartConfig(spec) {
    return {
      type: spec.type === "bar" ? "bar" : "line",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (ds, i) {
          var colour = PALETTE[i % PALETTE.length];
          // a different point shape per series: not told apart by colour alone
          var shapes = ["circle", "rect", "triangle", "crossRot", "star", "rectRot"];
          return {label: ds.label, data: ds.data, borderColor: colour, backgroundColor: colour,
                  pointStyle: shapes[i % shapes.length], pointRadius: 3, tension: 0.2};
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {labels: {usePointStyle: true}}},
        scales: {
          x: {title: {display: !!spec.x_label, text: spec.x_label || ""}},
          y: {beginAtZero: true, title: {display: !!spec.y_label, text: spec.y_label || ""}}
        }
      }
    };
  }

  function drawChart(figure) {
    var url = figure.getAttribute("data-chart-spec");
    var canvas = figure.querySelector("canvas");
    var holder = figure.querySelector(".chart-table");
    var title = (figure.querySelector("figcaption") || {}).textContent || "Chart";
    figure.setAttribute("aria-busy", "true");
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("the figures could not be loaded (" + r.status + ")"); }
        return r.json();
      })
      .then(function (spec) {
        if (holder) { renderTable(holder, spec, title); }
        if (canvas && window.Chart) {
          var old = charts.get(figure);
          if (old) { old.destroy(); }
          charts.set(figure, new window.Chart(canvas, chartConfig(spec)));
        }
        figure.setAttribute("data-chart-ready", "true");
      })
      .catch(function (err) {
        if (holder) { holder.replaceChildren(text("p", err.message)); }
      })
      .finally(function () { figure.removeAttribute("aria-busy"); });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("figure[data-chart-spec]").forEach(drawChart);
  }

  window.ysConsole = {drawChart: drawChart, drawAll: drawAll};
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
  document.addEventListener("ys:redraw", function (e) {
    if (e.target && e.target.matches && e.target.matches("figure[data-chart-spec]")) {
      drawChart(e.target);
    }
  });
}());
