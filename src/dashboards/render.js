// Draws dashboards' widget results with Apache ECharts, as SVG so the page's DOM shows what was
// drawn; each widget's element is marked data-rendered once drawn. The report calls it on the
// data it embeds (#report-data); the dashboard page on what /api/dashboard answers, with
// `onPick(dashboard, widget index, value)` for clicks on bars, points and slices.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function column(rows, name) {
    if (!rows.length) return name;
    if (name && name in rows[0]) return name;
    var lower = (name || "").toLowerCase();
    var keys = Object.keys(rows[0]);
    for (var i = 0; i < keys.length; i++) if (keys[i].toLowerCase() === lower) return keys[i];
    return keys[0];
  }

  // "2026-11-14 05:00:00.000" → "11-14 05:00" on time axes.
  function label(v) {
    var m = /^\d{4}-(\d\d-\d\d)[ T](\d\d:\d\d)(:00)?(\.0+)?Z?$/.exec(String(v));
    return m ? m[1] + " " + m[2] : String(v);
  }

  function table(rows, columns) {
    var t = el("table");
    if (!rows.length) { t.appendChild(el("caption", null, "no rows")); return t; }
    var keys = columns && columns.length ? columns : Object.keys(rows[0]);
    var head = el("tr");
    keys.forEach(function (k) { head.appendChild(el("th", null, k)); });
    t.appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      keys.forEach(function (k) { tr.appendChild(el("td", null, r[k] === null ? "" : String(r[k]))); });
      t.appendChild(tr);
    });
    return t;
  }

  function option(w) {
    var p = w.properties, rows = w.rows;
    var x = column(rows, p.XAxisColumn), y = column(rows, p.YAxisColumn || Object.keys(rows[0] || {})[1]);
    var base = { animation: false, tooltip: { trigger: w.view === "PieChart" ? "item" : "axis" },
                 grid: { left: 60, right: 20, top: 30, bottom: 60, containLabel: true } };
    if (w.view === "PieChart") {
      base.series = [{ type: "pie", radius: "65%", data: rows.map(function (r) { return { name: String(r[x]), value: r[y] }; }) }];
      base.legend = { type: "scroll", bottom: 0 };
      return base;
    }
    var categories = [];
    rows.forEach(function (r) { if (categories.indexOf(String(r[x])) < 0) categories.push(String(r[x])); });
    base.xAxis = { type: "category", data: categories,
                   axisLabel: { formatter: label, rotate: categories.length > 6 ? 30 : 0, hideOverlap: true } };
    base.yAxis = { type: "value" };
    // Long names (ARNs, user agents) read better on horizontal bars, shortened from the left.
    var longest = categories.reduce(function (a, c) { return Math.max(a, c.length); }, 0);
    if (w.view === "BarChart" && !p.SeriesColumn && longest > 18) {
      var shorten = function (v) { v = String(v); return v.length > 42 ? "…" + v.slice(v.length - 41) : v; };
      base.yAxis = { type: "category", data: categories, inverse: true, axisLabel: { formatter: shorten } };
      base.xAxis = { type: "value" };
      base.grid.left = 10;
    }
    var kind = w.view === "LineChart" ? "line" : "bar";
    if (p.SeriesColumn) {
      var s = column(rows, p.SeriesColumn), names = [];
      rows.forEach(function (r) { if (names.indexOf(String(r[s])) < 0) names.push(String(r[s])); });
      base.legend = { type: "scroll", top: 0 };
      base.series = names.map(function (n) {
        var values = categories.map(function (c) {
          var hit = rows.filter(function (r) { return String(r[x]) === c && String(r[s]) === n; })[0];
          return hit ? hit[y] : 0;
        });
        return { name: n, type: kind, stack: w.view === "StackedBarChart" ? "total" : undefined, data: values };
      });
    } else {
      base.series = [{ name: y, type: kind, data: rows.map(function (r) { return r[y]; }) }];
    }
    return base;
  }

  function draw(report, main, onPick) {
  report.dashboards.forEach(function (d) {
    var section = el("section", "dashboard");
    section.appendChild(el("h2", null, d.title));
    if (d.description) section.appendChild(el("p", "description", d.description));
    var grid = el("div", "grid");
    section.appendChild(grid);
    main.appendChild(section);
    d.widgets.forEach(function (w, index) {
      var card = el("article", "widget widget-" + w.view);
      card.setAttribute("data-title", w.title);
      card.appendChild(el("h3", null, w.title));
      var body = el("div", "body");
      card.appendChild(body);
      var stats = el("p", "stats", w.rows.length + " rows · " + w.elapsedMs + " ms");
      var sql = el("details", "sql");
      sql.appendChild(el("summary", null, "SQL"));
      sql.appendChild(el("pre", null, w.sql));
      card.appendChild(stats);
      card.appendChild(sql);
      grid.appendChild(card);
      if (w.error) {
        body.appendChild(el("p", "error", w.error));
        card.setAttribute("data-rendered", "error");
        return;
      }
      if (w.view === "Table") {
        body.appendChild(table(w.rows, w.columns));
      } else if (w.view === "Number") {
        var first = w.rows[0] || {};
        var k = column(w.rows, w.properties.YAxisColumn);
        body.appendChild(el("p", "number", first[k] === undefined ? "0" : Number(first[k]).toLocaleString("en")));
      } else {
        var chart = el("div", "chart");
        body.appendChild(chart);
        var c = echarts.init(chart, null, { renderer: "svg", width: 520, height: 300 });
        c.setOption(option(w));
        if (onPick) c.on("click", function (params) { onPick(d.name, index, params.name); });
      }
      card.setAttribute("data-rendered", "true");
    });
  });
  document.body.setAttribute("data-widgets", String(document.querySelectorAll("[data-rendered=true]").length));
  }

  window.traillakeDraw = draw;
  window.traillakeTable = table;
  var embedded = document.getElementById("report-data");
  if (embedded) draw(JSON.parse(embedded.textContent), document.getElementById("dashboards"));
})();
