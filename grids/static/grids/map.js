/* Maps of the platform with Leaflet served from this site (grids/static/grids/leaflet): grid polygons on a plain
   background (a tile layer only when the page names one in data-tiles), the point picker of /report/ and the
   officials' case map. A file, not inline: the Content-Security-Policy admits no script without a nonce. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function baseMap(el) {
    el.hidden = false;
    var map = L.map(el, { zoomSnap: 0.5, attributionControl: !!el.dataset.tiles });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.tilesAttribution || "" }).addTo(map);
    }
    return map;
  }

  function load(url, done) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(done)
      .catch(function () { /* the form keeps its fields: the map is a help, not the way in */ });
  }

  function label(layer, text, permanent) {
    layer.bindTooltip(text, { permanent: permanent, direction: "center", className: permanent ? "map-label" : "" });
  }

  var STREET = { color: "#205067", weight: 2.5, fill: false };
  var GRID = { color: "#79aec8", weight: 1, fillColor: "#79aec8", fillOpacity: 0.06 };

  function drawAreas(map, data, gridStyle, onGrid) {
    var layer = L.geoJSON(data, {
      style: function (f) { return f.properties.tier === "grid" ? gridStyle(f) : STREET; },
      onEachFeature: function (f, l) {
        if (f.properties.tier === "grid") {
          label(l, f.properties.label || f.properties.name, false);
          if (onGrid) onGrid(f, l);
        }
      },
    }).addTo(map);
    // Street names on the plain background, drawn above the grids.
    layer.eachLayer(function (l) {
      if (l.feature.properties.tier !== "grid") {
        L.tooltip({ permanent: true, direction: "center", className: "map-label", interactive: false })
          .setLatLng(l.getBounds().getCenter())
          .setContent(l.feature.properties.name)
          .addTo(map);
      }
    });
    if (layer.getLayers().length) map.fitBounds(layer.getBounds());
    return layer;
  }

  /* /report/: a click or "use my location" drops the pin; dragging moves it; the fields follow. */
  function picker(el) {
    var lat = document.getElementById(el.dataset.latitude);
    var lng = document.getElementById(el.dataset.longitude);
    var map = baseMap(el);
    var pin = null;

    function place(latlng, fromField) {
      if (!pin) {
        pin = L.marker(latlng, { draggable: true, autoPan: true }).addTo(map);
        pin.on("dragend", function () { place(pin.getLatLng()); });
      } else {
        pin.setLatLng(latlng);
      }
      if (!fromField) {
        lat.value = latlng.lat.toFixed(6);
        lng.value = latlng.lng.toFixed(6);
      }
    }

    load(el.dataset.geojson, function (data) {
      drawAreas(map, data, function () { return GRID; });
      if (lat.value && lng.value && !isNaN(+lat.value) && !isNaN(+lng.value)) {
        place(L.latLng(+lat.value, +lng.value), true);
        map.setView(pin.getLatLng(), Math.max(map.getZoom(), 15));
      }
    });
    map.on("click", function (e) {
      var first = !pin;
      place(e.latlng);
      // The first tap is usually on the whole district: come closer so the pin can be set right.
      if (first && map.getZoom() < 15) map.setView(e.latlng, 15);
    });

    var button = document.getElementById(el.dataset.locate);
    if (button && navigator.geolocation) {
      button.hidden = false;
      button.addEventListener("click", function () {
        button.disabled = true;
        navigator.geolocation.getCurrentPosition(
          function (pos) {
            button.disabled = false;
            var here = L.latLng(pos.coords.latitude, pos.coords.longitude);
            place(here);
            map.setView(here, 16);
          },
          function () { button.disabled = false; button.textContent = button.dataset.failed; },
          { enableHighAccuracy: true, timeout: 15000 }
        );
      });
    }
  }

  /* The officials' map: grids coloured by open cases per 1,000 residents, open cases as dots. */
  var LEVELS = [[0, "#eef5f9"], [0.5, "#c6e0ec"], [1, "#f6d68b"], [2, "#f0a35e"], [4, "#d9534f"]];
  function levelColour(value) {
    var colour = LEVELS[0][1];
    LEVELS.forEach(function (l) { if (value >= l[0]) colour = l[1]; });
    return colour;
  }
  var STATUS_COLOURS = { overdue: "#ba2121", warning: "#e8a317", running: "#2e7d32" };

  var SAFETY_COLOURS = { green: "#7fc97f", yellow: "#f6d68b", red: "#d9534f" };

  function textBox(text) {
    var box = document.createElement("div");
    box.textContent = text;
    return box;
  }

  function casePopup(p) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.number;
    var line = document.createElement("div");
    line.textContent = p.category + " · " + p.status;
    box.appendChild(link);
    box.appendChild(line);
    return box;
  }

  /* The server counts cases per cell below the detail zoom, and sends dots in view from it on:
     a view never carries more than a few thousand features. */
  function caseMap(el) {
    var map = baseMap(el);
    var colourBy = el.dataset.colour || "per_1000";
    var detailZoom = parseInt(el.dataset.detailZoom || "16", 10);
    var cases = L.layerGroup().addTo(map);
    var spots = L.layerGroup().addTo(map);
    var request = 0;

    function drawCases(features) {
      cases.clearLayers();
      features.forEach(function (f) {
        var c = f.geometry.coordinates, p = f.properties, at = [c[1], c[0]];
        if (p.cluster) {
          var size = Math.min(44, 18 + Math.round(Math.log(p.cluster) * 5));
          var icon = L.divIcon({
            className: "case-cluster clock-" + p.clock,
            html: "<span>" + p.cluster + "</span>",
            iconSize: [size, size],
          });
          L.marker(at, { icon: icon, keyboard: false })
            .on("click", function () { map.setView(at, Math.min(map.getZoom() + 2, detailZoom)); })
            .addTo(cases);
        } else if (p.number) {
          L.circleMarker(at, {
            radius: 6, weight: 1, color: "#fff", fillColor: STATUS_COLOURS[p.clock] || "#417690", fillOpacity: 0.9,
          }).bindPopup(casePopup(p)).addTo(cases);
        }
      });
    }

    function drawHotspots(features) {
      spots.clearLayers();
      features.forEach(function (f) {
        var c = f.geometry.coordinates, p = f.properties;
        L.circle([c[1], c[0]], { radius: 100, color: "#8e44ad", weight: 2, fillOpacity: 0.15 })
          .bindTooltip(textBox("#" + p.hotspot + " " + p.category + "：" + p.count + "（" + (p.growth >= 0 ? "+" : "") + p.growth + "）"))
          .addTo(spots);
      });
    }

    function refresh() {
      if (!map._loaded) return;  // no boundaries drawn, so no view yet
      var b = map.getBounds();
      var url = el.dataset.geojson + (el.dataset.geojson.indexOf("?") === -1 ? "?" : "&") +
        "grids=0&zoom=" + map.getZoom() + "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
      var mine = ++request;
      load(url, function (data) { if (mine === request) drawCases(data.features); });
    }

    var first = el.dataset.geojson + (el.dataset.geojson.indexOf("?") === -1 ? "?" : "&") + "zoom=12";
    load(first, function (data) {
      var areas = { type: "FeatureCollection", features: data.features.filter(function (f) { return f.geometry.type !== "Point"; }) };
      drawAreas(map, areas, function (f) {
        var fill = colourBy === "safety"
          ? (SAFETY_COLOURS[f.properties.safety_colour] || "#eeeeee")
          : levelColour(f.properties.per_1000 || 0);
        return { color: "#5b7f95", weight: 1, fillColor: fill, fillOpacity: 0.6 };
      });
      drawHotspots(data.features.filter(function (f) { return f.properties.hotspot; }));
      refresh();
      map.on("moveend", refresh);
    });
  }

  /* The grid list without a map: typing narrows the options (the select works without it). */
  function filterSelect(input) {
    var select = document.getElementById(input.dataset.filterFor);
    if (!select) return;
    input.hidden = false;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        var groupHit = group.label.toLowerCase().indexOf(q) !== -1;
        var any = false;
        Array.prototype.forEach.call(group.querySelectorAll("option"), function (o) {
          var hit = !q || groupHit || o.textContent.toLowerCase().indexOf(q) !== -1;
          o.hidden = !hit;
          any = any || hit;
        });
        group.hidden = !any;
      });
    });
  }

  ready(function () {
    document.querySelectorAll("input[data-filter-for]").forEach(filterSelect);
    if (!window.L) return;
    document.querySelectorAll("[data-map=pick]").forEach(picker);
    document.querySelectorAll("[data-map=cases]").forEach(caseMap);
  });
})();
