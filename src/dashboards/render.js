// Draws every widget of the report (data in #report-data) with Apache ECharts, as SVG so the
// page's DOM shows what was drawn. Each widget's element gets data-rendered="true" once drawn.
(function () {
  "use strict";
  var report = JSON.parse(document.getElementById("report-data").textContent);
  var main = document.getElementById("dashboards");

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

  report.dashboards.forEach(function (d) {
    var section = el("section", "dashboard");
    section.appendChild(el("h2", null, d.title));
    if (d.description) section.appendChild(el("p", "description", d.description));
    var grid = el("div", "grid");
    section.appendChild(grid);
    main.appendChild(section);
    d.widgets.forEach(function (w) {
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
      }
      card.setAttribute("data-rendered", "true");
    });
  });
  document.body.setAttribute("data-widgets", String(document.querySelectorAll("[data-rendered=true]").length));
})();
