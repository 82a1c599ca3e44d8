// The live dashboard page: pick a dashboard and a time range (kept in the URL's hash, so a view
// can be bookmarked or shared), draw its widgets from /api/dashboard, open the events behind a
// bar, point or slice from /api/events.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var info = null;

  function iso(d) { return d.toISOString().slice(0, 19) + "Z"; }
  function state() {
    var s = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) s[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
    });
    return s;
  }
  function setState(s) {
    location.hash = Object.keys(s).filter(function (k) { return s[k]; })
      .map(function (k) { return k + "=" + encodeURIComponent(s[k]); }).join("&");
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.statusText); return body; });
    });
  }

  // A relative range ends now; the default view is the week up to the newest event.
  function rangeOf(s) {
    if (s.start && s.end) return { start: s.start, end: s.end };
    var hours = { "1h": 1, "1d": 24, "7d": 168, "30d": 720 }[s.range];
    var end = hours ? new Date() : new Date(info.lastEvent || Date.now());
    var start = new Date(end.getTime() - (hours || 168) * 3600 * 1000);
    return { start: iso(start), end: iso(end) };
  }

  function load() {
    var s = state();
    var name = s.dashboard || info.dashboards[0].name;
    var r = rangeOf(s);
    $("dashboard").value = name;
    $("range").value = s.range || "custom";
    $("start").value = r.start.slice(0, 16);
    $("end").value = r.end.slice(0, 16);
    var main = $("dashboards");
    main.textContent = "";
    document.body.removeAttribute("data-widgets");
    $("status").textContent = "running …";
    var url = "api/dashboard?name=" + encodeURIComponent(name) + "&start=" + r.start + "&end=" + r.end;
    return get(url).then(function (d) {
      window.traillakeDraw({ dashboards: [d] }, main, function (dash, widget, value) { pick(dash, widget, value, r); });
      var ms = d.widgets.reduce(function (a, w) { return Math.max(a, w.elapsedMs); }, 0);
      $("status").textContent = d.widgets.length + " widgets · slowest " + ms + " ms";
      if (s.pick) {
        var at = s.pick.indexOf(":");
        return pick(name, Number(s.pick.slice(0, at)), s.pick.slice(at + 1), r);
      }
    }).catch(function (e) { $("status").textContent = "error: " + e.message; console.error(e.message); });
  }

  function pick(dashboard, widget, value, r) {
    var url = "api/events?name=" + encodeURIComponent(dashboard) + "&widget=" + widget +
      "&value=" + encodeURIComponent(value) + "&start=" + r.start + "&end=" + r.end;
    return get(url).then(function (ev) {
      var panel = $("events");
      panel.textContent = "";
      var head = document.createElement("h3");
      head.textContent = ev.title + " — " + ev.rows.length + " events";
      var close = document.createElement("button");
      close.textContent = "close";
      close.onclick = function () { panel.hidden = true; };
      panel.appendChild(head);
      panel.appendChild(close);
      panel.appendChild(window.traillakeTable(ev.rows, ev.columns));
      panel.hidden = false;
      panel.setAttribute("data-events", String(ev.rows.length));
    });
  }

  function fromControls(extra) {
    var s = { dashboard: $("dashboard").value, range: $("range").value };
    if (s.range === "custom") { s.start = $("start").value + ":00Z"; s.end = $("end").value + ":00Z"; }
    Object.keys(extra || {}).forEach(function (k) { s[k] = extra[k]; });
    setState(s);
  }

  get("api/dashboards").then(function (i) {
    info = i;
    $("store").textContent = i.store;
    i.dashboards.forEach(function (d) {
      var o = document.createElement("option");
      o.value = d.name; o.textContent = d.title;
      $("dashboard").appendChild(o);
    });
    $("dashboard").onchange = function () { fromControls(); };
    $("range").onchange = function () { fromControls(); };
    $("start").onchange = $("end").onchange = function () { $("range").value = "custom"; fromControls(); };
    $("refresh").onclick = function () { load(); };
    window.onhashchange = load;
    return load();
  }).catch(function (e) { $("status").textContent = "error: " + e.message; console.error(e.message); });
})();
