/* A chip's location check: landmarks, their delay circles and the feasible region. */
"use strict";
(function () {
  const d = JSON.parse(document.getElementById("check-data").textContent);
  const map = L.map("checkmap", {worldCopyJump: true}).setView([30, 10], 2);
  PBWorld(map).then(function () {
    const group = L.featureGroup();
    d.landmarks.forEach(function (l) {
      const bad = l.status !== "ok";
      L.circle([l.lat, l.lon], {radius: l.radius_km * 1000, color: bad ? "#c62828" : "#1565c0", weight: 1, fillOpacity: 0.05}).addTo(group);
      L.circleMarker([l.lat, l.lon], {radius: 4, color: "#1565c0", fillOpacity: 1}).bindTooltip(l.id + " · " + l.rtt_ms + " ms").addTo(group);
    });
    if (d.region.length >= 3) {
      L.polygon(d.region, {color: "#2e7d32", weight: 2, fillOpacity: 0.35}).bindTooltip("feasible region").addTo(group);
    }
    if (d.claim) {
      L.circleMarker([d.claim.lat, d.claim.lon], {radius: 6, color: "#000", fillColor: "#ffeb3b", fillOpacity: 1}).bindTooltip("declared facility").addTo(group);
    }
    group.addTo(map);
    if (group.getLayers().length) map.fitBounds(group.getBounds(), {maxZoom: 6});
  });
})();
