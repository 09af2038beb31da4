// A case's pin on a small map: the country outlines shipped with the app (and the tile server
// when one is configured), so it works offline.
(function () {
  "use strict";
  const box = document.getElementById("pin-map");
  if (!box) return;
  const where = [Number(box.dataset.latitude), Number(box.dataset.longitude)];
  const map = L.map(box, {attributionControl: false, scrollWheelZoom: false, maxZoom: box.dataset.tiles ? 18 : 9})
    .setView(where, box.dataset.tiles ? 14 : 5);  // without tiles: the country around the pin
  if (box.dataset.tiles) L.tileLayer(box.dataset.tiles, {maxZoom: 18}).addTo(map);
  fetch(box.dataset.outlines, {credentials: "same-origin"})
    .then((response) => { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
    .then((geojson) => {
      L.geoJSON(geojson, {interactive: false, style: {color: "#8a97a3", weight: 1, fillColor: "#e9edf1", fillOpacity: 1}})
        .addTo(map).bringToBack();
    })
    .catch(() => { box.dataset.outlines = ""; });  // the pin still shows, on a blank ground
  L.circleMarker(where, {radius: 9, color: "#ffffff", weight: 2, fillColor: "#b3261e", fillOpacity: 1}).addTo(map);
})();
