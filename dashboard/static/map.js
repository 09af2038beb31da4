// The crisis map: country outlines shipped with the app, one circle per place, a side panel.
// Everything from the data (city names, references, categories) is written with textContent:
// a city is whatever someone typed into their phone.
(function () {
  "use strict";

  const REFRESH_MS = 60000;
  const COLOURS = {critical: "#b3261e", high: "#c8640a", normal: "#1f6fb2", low: "#5d6b79", none: "#8a97a3"};
  const mapBox = document.getElementById("map");
  const form = document.getElementById("map-filters");
  const statusLine = document.getElementById("map-status");
  const crisisLine = document.getElementById("map-crises");
  const panel = {
    title: document.getElementById("place-title"),
    summary: document.getElementById("place-summary"),
    cases: document.getElementById("place-cases"),
    list: document.getElementById("place-list"),
  };
  const config = mapBox.dataset;

  const map = L.map(mapBox, {worldCopyJump: true, minZoom: 1, maxZoom: config.tiles ? 18 : 9, zoomSnap: 0.5})
    .setView([18, 45], 3);  // the Gulf and East Africa
  map.createPane("places").style.zIndex = 620;  // above the outlines (whenever they arrive), below tooltips
  if (config.tiles) {
    L.tileLayer(config.tiles, {maxZoom: 18}).addTo(map);
  }
  const placesLayer = L.layerGroup().addTo(map);
  let outlines = null;
  let places = [];
  let selected = null;
  let fitNext = true;  // frame the places after the first load and after each change of filters
  let loading = null;

  // --- outlines ----------------------------------------------------------------------------------

  fetch(config.outlines, {credentials: "same-origin"})
    .then((response) => { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
    .then((geojson) => {
      outlines = L.geoJSON(geojson, {style: countryStyle, interactive: false}).addTo(map);
      shadeCountries();
    })
    .catch(() => { mapBox.classList.add("no-outlines"); });

  function countryStyle(feature) {
    const busy = feature && places.some((p) => p.count !== 0 && p.country === feature.properties.iso_a2);
    return {color: "#8a97a3", weight: 0.7, fillColor: busy ? "#ecdcc0" : "#f6f3ec",
            fillOpacity: config.tiles ? 0.25 : 1};
  }

  function shadeCountries() {
    if (outlines) outlines.setStyle(countryStyle);
  }

  // --- data --------------------------------------------------------------------------------------

  function query() {
    const params = new URLSearchParams();
    const days = form.elements.days.value;
    if (days) {
      params.set("days", days);
    } else {
      if (form.elements.since.value) params.set("since", form.elements.since.value);
      if (form.elements.until.value) params.set("until", form.elements.until.value);
    }
    for (const name of ["category", "status"]) {
      if (form.elements[name].value) params.set(name, form.elements[name].value);
    }
    return params;
  }

  async function load() {
    showCustomPeriod();
    const params = query();
    if (!form.elements.days.value && !params.has("since")) {
      statusLine.textContent = "Choose the first day of the period.";
      return;
    }
    history.replaceState(null, "", "?" + params.toString());
    const asked = params.toString();
    loading = asked;
    try {
      const response = await fetch(config.src + "?" + asked, {credentials: "same-origin",
                                                               headers: {Accept: "application/json"}});
      if (response.redirected) {
        statusLine.textContent = "Signed out. Reload the page to sign in again.";
        return;
      }
      const data = await response.json();
      if (loading !== asked) return;  // a newer request is on its way
      if (!response.ok) {
        statusLine.textContent = "Cannot show that: " + (data.error || response.status);
        return;
      }
      show(data);
    } catch (error) {
      statusLine.textContent = "Could not load the map data (" + error.message + "); retrying shortly.";
    }
  }

  function show(data) {
    places = data.places;
    placesLayer.clearLayers();
    // Drawn in this order so that what matters stays clickable where circles overlap: whole
    // countries (a vague place) underneath, then the busiest first (small ones on top), crises last.
    const order = (p) => [p.crisis ? 1 : 0, p.city ? 1 : 0, -(p.count ?? 0)];
    const drawing = places.slice().sort((a, b) => {
      const x = order(a), y = order(b);
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
    for (const place of drawing) {
      addPlace(place, data.cases_shown);
    }
    shadeCountries();
    const withCases = places.filter((p) => p.count !== 0);
    const drawn = withCases.reduce((sum, p) => sum + (p.count ?? 0), 0);
    let text = withCases.some((p) => p.count === null)  // an analyst: small counts are not shown
      ? plural(withCases.length, "place") + "; counts below " + data.min_count + " are not shown"
      : plural(drawn, "case") + " in " + plural(withCases.length, "place");
    if (data.unplaced) text += " (and " + plural(data.unplaced, "case") + " with no known place)";
    statusLine.textContent = text;
    const crises = places.filter((p) => p.crisis).length;
    crisisLine.textContent = crises ? plural(crises, "place") + " in crisis" : "";
    listPlaces();
    if (selected && !places.some((p) => p.key === selected)) selected = null;
    showPanel(data.cases_shown);
    if (fitNext && places.length) {
      map.fitBounds(L.latLngBounds(places.map((p) => [p.lat, p.lon])).pad(0.4), {maxZoom: 6});
    }
    fitNext = false;
  }

  function addPlace(place, casesShown) {
    const where = [place.lat, place.lon];
    const radius = Math.min(40, 6 + 4 * Math.sqrt(place.count ?? 1));
    const colour = COLOURS[place.top_priority || "none"];
    if (place.crisis) {
      const ring = L.circleMarker(where, {pane: "places", radius: radius + 7, className: "crisis-ring",
                                          color: COLOURS.critical, weight: 3, fill: false, interactive: false});
      ring.bindTooltip(textNode("CRISIS"), {permanent: true, direction: "top", className: "crisis-label",
                                            offset: [0, -radius - 6]});
      ring.addTo(placesLayer);
    }
    const classes = ["place-marker", "priority-" + (place.top_priority || "none")];
    if (place.crisis) classes.push("crisis");
    if (place.key === selected) classes.push("selected");
    const marker = L.circleMarker(where, {pane: "places", radius: radius, className: classes.join(" "),
                                          color: place.crisis ? COLOURS.critical : "#ffffff", weight: 2,
                                          fillColor: colour, fillOpacity: 0.8});
    marker.bindTooltip(textNode(placeName(place) + ": " + cases(place)), {direction: "top"});
    marker.on("click", () => choose(place.key, casesShown));
    marker.addTo(placesLayer);
    const element = marker.getElement();
    if (element) {
      element.setAttribute("data-place", place.key);
      element.setAttribute("data-count", String(place.count ?? "few"));
    }
  }

  // --- the side panel ----------------------------------------------------------------------------

  function choose(key, casesShown) {
    selected = key;
    placesLayer.eachLayer((layer) => {
      const element = layer.getElement && layer.getElement();
      if (element && element.dataset.place) element.classList.toggle("selected", element.dataset.place === key);
    });
    showPanel(casesShown);
  }

  function listPlaces() {
    panel.list.replaceChildren();
    for (const place of places) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.key = place.key;
      button.textContent = placeName(place) + " · " + cases(place);
      if (place.crisis) button.append(" ", badge("CRISIS", "critical"));
      button.addEventListener("click", () => choose(place.key, mapBox.dataset.seesPeople === "yes"));
      item.append(button);
      panel.list.append(item);
    }
  }

  function showPanel(casesShown) {
    const place = places.find((p) => p.key === selected);
    panel.cases.replaceChildren();
    panel.list.hidden = Boolean(place);
    if (!place) {
      panel.title.textContent = "Places";
      panel.summary.textContent = places.length ? "Choose a place on the map or in the list below."
        : "No cases in this period.";
      return;
    }
    panel.title.replaceChildren(placeName(place));
    if (place.crisis) panel.title.append(" ", badge("CRISIS", "critical"));
    const counts = ["critical", "high", "normal", "low"]
      .filter((p) => (place.priorities || {})[p]).map((p) => place.priorities[p] + " " + p);
    let summary = cases(place) + (counts.length ? ": " + counts.join(", ") : "") + ".";
    if (place.crisis) {
      summary += " Crisis declared " + when(place.crisis_since) +
        (place.crisis_ended ? ", ended " + when(place.crisis_ended) : ", still open") + ".";
    }
    panel.summary.textContent = summary;
    const back = document.createElement("button");
    back.type = "button";
    back.className = "back";
    back.textContent = "All places";
    back.addEventListener("click", () => choose(null, casesShown));
    panel.summary.append(" ", back);
    if (!casesShown) {
      panel.summary.append(document.createElement("br"), "Case lists are not shown to analysts.");
      return;
    }
    for (const item of place.cases) {
      const line = document.createElement("li");
      line.dataset.reference = item.reference;
      const link = document.createElement("a");
      if (item.url.startsWith("/")) link.href = item.url;  // our own pages only
      link.textContent = item.reference;
      line.append(link, " ", badge(item.priority, item.priority), " ", badge(item.status, "status"),
                  " " + item.category_label + " · " + when(item.created_at));
      panel.cases.append(line);
    }
    if (place.more > 0) {
      const more = document.createElement("li");
      more.className = "muted";
      more.textContent = "and " + plural(place.more, "more case") + " (see the queue)";
      panel.cases.append(more);
    }
  }

  // --- small helpers -----------------------------------------------------------------------------

  function cases(place) {
    // An analyst is not shown a count below the smallest (null): "fewer than 3 cases".
    return place.count === null ? "fewer than " + mapBox.dataset.minCount + " cases" : plural(place.count, "case");
  }

  function placeName(place) {
    return place.city ? place.city + ", " + place.country_name : place.country_name + " (city unknown)";
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function badge(text, kind) {
    const span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }

  function textNode(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function when(iso) {
    const moment = new Date(iso);
    return isNaN(moment) ? iso : moment.toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
  }

  function showCustomPeriod() {
    const custom = !form.elements.days.value;
    for (const label of form.querySelectorAll(".custom-period")) label.hidden = !custom;
  }

  // --- wiring ------------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => { event.preventDefault(); fitNext = true; load(); });
  form.addEventListener("change", (event) => {
    if (event.target.name === "days" && !event.target.value) { showCustomPeriod(); return; }
    fitNext = true;
    load();
  });
  setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  load();
})();
