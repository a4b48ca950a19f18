/* Country shapes from world-atlas (Natural Earth 1:110m) as a GeoJSON layer: no tiles. */
"use strict";
window.PBWorld = async function (map) {
  const resp = await fetch("/console/static/vendor/world-atlas/countries-110m.json");
  const topo = await resp.json();
  const land = topojson.feature(topo, topo.objects.countries);
  L.geoJSON(land, {
    style: {color: "#7d8b99", weight: 0.6, fillColor: "#e6ebf0", fillOpacity: 1},
    interactive: false,
  }).addTo(map);
};
