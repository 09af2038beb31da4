// The crisis map: country outlines shipped with the app, one circle per place, a side panel.
// Places close together at the current zoom are drawn as one cluster (Leaflet.markercluster)
// showing their summed count; zooming in or clicking it splits it. Each marker or cluster that
// holds places in crisis carries one label, and a label that would cover another is hidden.
// Everything from the data (city names, references, categories) is written with textContent:
// a city is whatever someone typed into their phone.
(function () {
  "use strict";

  const REFRESH_MS = 60000;
  const COLOURS = {critical: "#b3261e", high: "#c8640a", normal: "#1f6fb2", low: "#5d6b79", none: "#8a97a3"};
  const PRIORITIES = ["critical", "high", "normal", "low"];
  const NAMED_CRISES = 4;  // the crisis line names this many places; more are counted
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
  // As every page writes a time (dashboard/times.py): "06 Dec 21:03" in the reader's zone.
  const CLOCK = new Intl.DateTimeFormat("en-GB", {timeZone: config.zone || "Africa/Nairobi", day: "2-digit",
                                                  month: "short", hour: "2-digit", minute: "2-digit", hour12: false});

  const map = L.map(mapBox, {worldCopyJump: true, minZoom: 1, maxZoom: config.tiles ? 18 : 9, zoomSnap: 0.5})
    .setView([18, 45], 3);  // the Gulf and East Africa
  map.createPane("places").style.zIndex = 620;  // above the outlines (whenever they arrive), below tooltips
  if (config.tiles) {
    L.tileLayer(config.tiles, {maxZoom: 18}).addTo(map);
  }
  // Places merge within this many pixels: about the width of the biggest circle at country zoom,
  // less when zoomed in to cities, so that neighbours (Khobar and Dhahran, 16 km) part before the
  // last zoom. At the last zoom a click spreads a cluster out instead.
  const clusterRadius = (zoom) => Math.max(40, Math.min(80, 80 - 10 * (zoom - 4)));
  const clusters = L.markerClusterGroup({
    clusterPane: "places", maxClusterRadius: clusterRadius, showCoverageOnHover: false,
    iconCreateFunction: clusterIcon,
    spiderLegPolylineOptions: {pane: "places", weight: 1.5, color: "#37474f", opacity: 0.6},
  }).addTo(map);
  const rings = L.layerGroup().addTo(map);  // a crisis place's ring and label, drawn while its marker is
  const markers = new Map();  // place key -> its circle marker
  let outlines = null;
  let data = null;
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
    const here = (p) => feature && p.country === feature.properties.iso_a2;
    const busy = places.some((p) => here(p) && p.count !== 0);
    const crisis = places.some((p) => here(p) && p.crisis_whole_country);  // the whole country is tinted
    return {color: crisis ? COLOURS.critical : "#8a97a3", weight: crisis ? 1.5 : 0.7,
            fillColor: crisis ? "#f2d4cf" : busy ? "#ecdcc0" : "#f6f3ec", fillOpacity: config.tiles ? 0.25 : 1};
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
      const answer = await response.json();
      if (loading !== asked) return;  // a newer request is on its way
      if (!response.ok) {
        statusLine.textContent = "Cannot show that: " + (answer.error || response.status);
        return;
      }
      show(answer);
    } catch (error) {
      statusLine.textContent = "Could not load the map data (" + error.message + "); retrying shortly.";
    }
  }

  function show(answer) {
    data = answer;
    places = data.places;
    clusters.clearLayers();
    rings.clearLayers();
    markers.clear();
    for (const place of places) markers.set(place.key, placeMarker(place, data.cases_shown));
    clusters.addLayers(Array.from(markers.values()));
    shadeCountries();
    const withCases = places.filter((p) => p.count !== 0);
    const drawn = withCases.reduce((sum, p) => sum + (p.count ?? 0), 0);
    let text = withCases.some((p) => p.count === null)  // an analyst: small counts are not shown
      ? plural(withCases.length, "place") + "; counts below " + data.min_count + " are not shown"
      : plural(drawn, "case") + " in " + plural(withCases.length, "place");
    if (data.unplaced) text += " (and " + plural(data.unplaced, "case") + " with no known place)";
    statusLine.textContent = text;
    crisisLine.textContent = crisisText(places.filter((p) => p.crisis));
    listPlaces();
    if (selected && !places.some((p) => p.key === selected)) selected = null;
    showPanel(data.cases_shown);
    if (fitNext && places.length) {
      map.fitBounds(L.latLngBounds(places.map((p) => [p.lat, p.lon])).pad(0.4), {maxZoom: 6});
    }
    fitNext = false;
    declutter();
  }

  function crisisText(inCrisis) {
    // Each place once, as drawn: a crisis in a whole country is its country's place, not its cities.
    if (!inCrisis.length) return "";
    const withoutCases = inCrisis.filter((p) => p.count === 0).length;
    if (inCrisis.length > NAMED_CRISES) {
      return plural(inCrisis.length, "place") + " in crisis" +
        (withoutCases ? " (" + withoutCases + " with no case in view)" : "");
    }
    return plural(inCrisis.length, "place") + " in crisis: " + inCrisis.map(crisisName).join(", ");
  }

  function radiusFor(count) {
    return Math.min(40, 6 + 4 * Math.sqrt(count));
  }

  function placeMarker(place, casesShown) {
    const where = [place.lat, place.lon];
    const radius = radiusFor(place.count ?? 1);
    const classes = ["place-marker", "priority-" + (place.top_priority || "none")];
    if (place.crisis) classes.push("crisis");
    const marker = L.circleMarker(where, {pane: "places", radius: radius, className: classes.join(" "),
                                          color: place.crisis ? COLOURS.critical : "#ffffff", weight: 2,
                                          fillColor: COLOURS[place.top_priority || "none"], fillOpacity: 0.8,
                                          place: place});
    marker.bindTooltip(textNode(placeName(place) + ": " + cases(place)), {direction: "top"});
    marker.on("click", () => choose(place.key, casesShown));
    marker.on("add", () => {  // each time it leaves a cluster it is a new SVG path
      mark(marker);
      // Where circles still overlap, what matters stays clickable: a whole country (a vague
      // place) underneath, crises on top. (The clusters decide the order of the rest.)
      if (!place.city) marker.bringToBack();
      if (place.crisis) marker.bringToFront();
    });
    if (place.crisis) {
      // The ring (and its label) is drawn while the marker is, where the marker is: clustered,
      // the cluster carries the label instead; spread out, the ring follows.
      const ring = L.circleMarker(where, {pane: "places", radius: radius + 7, className: "crisis-ring",
                                          color: COLOURS.critical, weight: 3, fill: false, interactive: false});
      ring.bindTooltip(textNode("CRISIS"), {permanent: true, direction: "top", className: "crisis-label",
                                        offset: [0, -radius - 6]});
      marker.on("add", () => ring.setLatLng(marker.getLatLng()).addTo(rings));
      marker.on("move", (event) => ring.setLatLng(event.latlng));
      marker.on("remove", () => ring.remove());
    }
    return marker;
  }

  function mark(marker) {
    const place = marker.options.place;
    const element = marker.getElement();
    if (!element) return;
    element.setAttribute("data-place", place.key);
    element.setAttribute("data-count", String(place.count ?? "few"));
    element.classList.toggle("selected", place.key === selected);
  }

  function clusterIcon(cluster) {
    const inside = cluster.getAllChildMarkers().map((marker) => marker.options.place);
    const sum = inside.reduce((total, p) => total + (p.count ?? 0), 0);
    // An analyst's small counts are not shown (null): the cluster has at least the sum of the rest.
    const hidden = inside.some((p) => p.count === null);
    const count = hidden ? (sum ? sum + "+" : "few") : String(sum);
    const crises = inside.filter((p) => p.crisis).length;
    const top = PRIORITIES.find((level) => inside.some((p) => p.top_priority === level)) || "none";
    const body = document.createElement("span");
    body.className = "cluster-body";
    body.dataset.count = count;
    body.dataset.places = String(inside.length);
    body.dataset.crises = String(crises);
    body.dataset.keys = inside.map((p) => p.key).sort().join("|");
    const names = inside.map(placeName).sort();
    body.title = names.slice(0, 8).join("; ") + (names.length > 8 ? "; and " + (names.length - 8) + " more" : "") +
      ": " + (hidden ? "counts below " + data.min_count + " are not shown" : plural(sum, "case")) +
      (crises ? ", " + crises + " in crisis" : "") + ". Click to zoom in.";
    body.setAttribute("aria-label", body.title);
    body.append(textNode(count));
    if (crises) {
      const label = textNode(crises > 1 ? "CRISIS \u00d7" + crises : "CRISIS");
      label.className = "crisis-label cluster-label";
      label.dataset.crises = String(crises);
      body.append(label);
    }
    const size = 2 * (radiusFor(Math.max(sum, inside.length)) + 4);
    return L.divIcon({html: body, className: "place-cluster priority-" + top + (crises ? " crisis" : ""),
                      iconSize: [size, size]});
  }

  // --- labels that would cover each other -------------------------------------------------------

  let decluttering = 0;

  function declutter() {
    // After the clusters settle (a zoom, a pan, a cluster spread out): the labels holding the most
    // crisis places first; one that would cover a label already kept is hidden. The marker keeps
    // its red ring, and the crisis line names the place.
    cancelAnimationFrame(decluttering);
    decluttering = requestAnimationFrame(() => {
      const labels = Array.from(mapBox.querySelectorAll(".crisis-label"));  // tooltips and clusters' own
      labels.forEach((label) => label.classList.remove("crowded"));
      const weight = (label) => Number(label.dataset.crises || 1);
      const kept = [];
      for (const label of labels.sort((a, b) => weight(b) - weight(a))) {
        const box = label.getBoundingClientRect();
        if (kept.some((other) => box.left < other.right && other.left < box.right &&
                                 box.top < other.bottom && other.top < box.bottom)) {
          label.classList.add("crowded");
        } else {
          kept.push(box);
        }
      }
    });
  }

  map.on("zoomend moveend", declutter);
  clusters.on("animationend spiderfied unspiderfied", declutter);

  // --- the side panel ----------------------------------------------------------------------------

  function choose(key, casesShown) {
    selected = key;
    markers.forEach(mark);
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
      button.addEventListener("click", () => {
        choose(place.key, mapBox.dataset.seesPeople === "yes");
        const marker = markers.get(place.key);  // inside a cluster: zoom until it stands alone
        if (marker && clusters.hasLayer(marker)) clusters.zoomToShowLayer(marker);
      });
      item.append(button);
      panel.list.append(item);
    }
    if (data && data.unplaced !== 0) {  // so that the list adds up to the cases in view
      const item = document.createElement("li");
      item.className = "muted unplaced";
      item.textContent = "No known place · " + cases({count: data.unplaced});
      panel.list.append(item);
    }
  }

  function overview() {
    // The cases in view, as the list below adds them up: the places', and those with no known place.
    if (!places.length && !data.unplaced) return "No cases in this period.";
    const choosing = " Choose a place on the map or in the list below.";
    if (data.total === null) return "Counts below " + data.min_count + " are not shown, nor their total." + choosing;
    const placed = places.reduce((sum, p) => sum + p.count, 0);
    const withCases = places.filter((p) => p.count !== 0).length;
    let text = plural(data.total, "case") + " in view";
    if (data.unplaced) {
      text += ": " + plural(placed, "case") + " in " + plural(withCases, "place") + ", " +
        plural(data.unplaced, "case") + " with no known place";
    }
    return text + "." + choosing;
  }

  function showPanel(casesShown) {
    const place = places.find((p) => p.key === selected);
    panel.cases.replaceChildren();
    panel.list.hidden = Boolean(place);
    if (!place) {
      panel.title.textContent = "Places";
      panel.summary.textContent = overview();
      return;
    }
    panel.title.replaceChildren(placeName(place));
    if (place.crisis) panel.title.append(" ", badge("CRISIS", "critical"));
    const counts = ["critical", "high", "normal", "low"]
      .filter((p) => (place.priorities || {})[p]).map((p) => place.priorities[p] + " " + p);
    let summary = cases(place) + (counts.length ? ": " + counts.join(", ") : "") + ".";
    if (place.crisis) {
      summary += " Crisis declared" + (place.crisis_whole_country ? " for the whole country " : " ") +
        when(place.crisis_since) + (place.crisis_ended ? ", ended " + when(place.crisis_ended) : ", still open") + ".";
    }
    const country = place.city && places.find((p) => p.country === place.country && p.crisis_whole_country);
    if (country) {
      summary += " " + place.country_name + " as a whole is in crisis, declared " + when(country.crisis_since) +
        (country.crisis_ended ? ", ended " + when(country.crisis_ended) : ", still open") + ".";
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

  function crisisName(place) {
    // "Riyadh", "Saudi Arabia (whole country; no case in view)"
    const notes = [];
    if (!place.city) notes.push(place.crisis_whole_country ? "whole country" : "city unknown");
    if (place.count === 0) notes.push("no case in view");
    return (place.city || place.country_name) + (notes.length ? " (" + notes.join("; ") + ")" : "");
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
    if (isNaN(moment)) return iso;
    const part = Object.fromEntries(CLOCK.formatToParts(moment).map((p) => [p.type, p.value]));
    return `${part.day} ${part.month} ${part.hour}:${part.minute}`;
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
