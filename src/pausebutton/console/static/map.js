/* The map page: facilities from /console/api/map, clustered by leaflet.markercluster,
   each circle sized by its chips and coloured by its dominant state. */
"use strict";
(function () {
  const COLORS = {licensed: "#2e7d32", throttled: "#f9a825", paused: "#1565c0", unverified: "#8e24aa", alert: "#c62828"};
  const status = document.getElementById("map-status");
  const map = L.map("map", {worldCopyJump: true, preferCanvas: true, minZoom: 1, maxZoom: 12, attributionControl: true}).setView([30, 10], 2);
  map.attributionControl.addAttribution("Countries: Natural Earth via world-atlas");
  let facilities = [];
  let states = [];
  const markers = new Map();

  function dominant(counts) {
    // what most needs attention first: alerts, unverified, paused, throttled, licensed
    for (const s of ["alert", "unverified", "paused"]) {
      const i = states.indexOf(s);
      if (counts[i] > 0) return s;
    }
    const lic = counts[states.indexOf("licensed")], thr = counts[states.indexOf("throttled")];
    return thr > lic ? "throttled" : "licensed";
  }
  function clusterIcon(cluster) {
    let chips = 0, worst = "licensed";
    const order = ["licensed", "throttled", "paused", "unverified", "alert"];
    cluster.getAllChildMarkers().forEach(function (m) {
      chips += m.options.pbTotal;
      if (order.indexOf(m.options.pbState) > order.indexOf(worst)) worst = m.options.pbState;
    });
    const size = Math.round(26 + 8 * Math.log10(1 + chips));
    return L.divIcon({
      html: '<span style="background:' + COLORS[worst] + '">' + cluster.getChildCount() + "</span>",
      className: "pb-cluster", iconSize: [size, size],
    });
  }
  function describe(f) {
    const rows = states.map(function (s, i) { return "<li>" + s + ": " + f[6][i] + "</li>"; }).join("");
    const total = f[6].reduce(function (a, b) { return a + b; }, 0);
    return "<strong>" + PB.esc(f[1]) + "</strong><br>" + PB.esc(f[2]) + " · " + total + " chips<ul>" + rows +
      '</ul><a href="/console/facilities/' + encodeURIComponent(f[0]) + '">Open facility</a>';
  }
  function countriesTable(data) {
    const body = document.querySelector("#countries tbody");
    const rows = data.countries.slice().sort(function (a, b) {
      return b.chips.reduce((x, y) => x + y, 0) - a.chips.reduce((x, y) => x + y, 0);
    });
    if (!rows.length) { body.innerHTML = '<tr><td colspan="8" class="empty">No facilities registered yet.</td></tr>'; return; }
    body.innerHTML = rows.map(function (c) {
      const total = c.chips.reduce((x, y) => x + y, 0);
      const name = data.public ? PB.esc(c.country)
        : '<button type="button" class="zoom" data-country="' + PB.esc(c.country) + '" title="Show on the map">' + PB.esc(c.country) + "</button>";
      return "<tr><th scope=\"row\">" + name + "</th><td>" + c.facilities + "</td><td>" + total + "</td>" +
        c.chips.map(function (n) { return "<td>" + n + "</td>"; }).join("") + "</tr>";
    }).join("");
    const t = data.totals;
    const all = t.chips.reduce((x, y) => x + y, 0);
    document.getElementById("totals").textContent = t.facilities.toLocaleString() + " facilities, " + all.toLocaleString() + " chips" +
      (t.no_facility.reduce((x, y) => x + y, 0) ? " (" + t.no_facility.reduce((x, y) => x + y, 0) + " without a facility)" : "");
  }
  async function load() {
    let data;
    try {
      data = await PB.getJSON("/console/api/map");
    } catch (e) {
      status.textContent = "Could not load the registry: " + e.message;
      status.classList.add("error");
      return;
    }
    states = data.states;
    facilities = data.facilities;
    countriesTable(data);
    const cluster = L.markerClusterGroup({chunkedLoading: true, iconCreateFunction: clusterIcon, showCoverageOnHover: false});
    const list = [];
    facilities.forEach(function (f) {
      const total = f[6].reduce((a, b) => a + b, 0);
      const st = dominant(f[6]);
      const m = L.circleMarker([f[3], f[4]], {
        radius: 5 + 3 * Math.log10(1 + total), color: "#263238", weight: 1,
        fillColor: COLORS[st], fillOpacity: 0.85, pbTotal: total, pbState: st,
      });
      m.bindPopup(function () { return describe(f); });
      markers.set(f[0], m);
      list.push(m);
    });
    cluster.addLayers(list);
    map.addLayer(cluster);
    window.PBMap = {map: map, cluster: cluster, markers: markers};
    status.textContent = data.public
      ? "Public view: " + data.countries.length + " countries."
      : facilities.length.toLocaleString() + " facilities on the map.";
    document.body.dataset.mapReady = "1";
  }
  function find(q) {
    const out = document.getElementById("found");
    q = q.trim().toLowerCase();
    if (!q) { out.innerHTML = ""; return; }
    const hits = facilities.filter(function (f) {
      return f[0].toLowerCase().includes(q) || f[1].toLowerCase().includes(q) || f[2].toLowerCase() === q;
    }).slice(0, 20);
    out.innerHTML = hits.length ? hits.map(function (f) {
      return '<li><button type="button" data-id="' + PB.esc(f[0]) + '">' + PB.esc(f[1]) + " <small>" + PB.esc(f[2]) + "</small></button> " +
        '<a href="/console/facilities/' + encodeURIComponent(f[0]) + '">open</a></li>';
    }).join("") : '<li class="empty">No facility matches.</li>';
  }
  document.getElementById("countries").addEventListener("click", function (ev) {
    const b = ev.target.closest("button.zoom");
    if (!b) return;
    const here = facilities.filter(function (f) { return f[2] === b.dataset.country; });
    if (here.length) map.fitBounds(L.latLngBounds(here.map(function (f) { return [f[3], f[4]]; })).pad(0.3), {maxZoom: 8});
  });
  const input = document.getElementById("find");
  if (input) {
    input.addEventListener("input", function () { find(input.value); });
    document.getElementById("found").addEventListener("click", function (ev) {
      const b = ev.target.closest("button[data-id]");
      if (!b) return;
      const f = facilities.find(function (x) { return x[0] === b.dataset.id; });
      // the popup opens on the map itself, clustered or not at this zoom
      map.setView([f[3], f[4]], 5, {animate: false});
      L.popup().setLatLng([f[3], f[4]]).setContent(describe(f)).openOn(map);
    });
  }
  PBWorld(map).catch(function (e) { status.textContent = "Country shapes failed to load: " + e.message; }).finally(load);
})();
