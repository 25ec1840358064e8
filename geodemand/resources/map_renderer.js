// geodemand hot-spot map renderer: constant code, filled in with two element names and
// the base64 payload. Every node is built with DOM calls and textContent only.
(function () {
    var map = __MAP__;
    var control = __CONTROL__;
    var raw = atob("__PAYLOAD__");
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    var data = JSON.parse(new TextDecoder("utf-8").decode(bytes));
    function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined && text !== null) { e.textContent = String(text); }
        return e;
    }
    // the title box first: its height keeps popups clear of it when they pan into view
    var box = L.DomUtil.create("div", "gd-title", map.getContainer());
    if (data.title.synthetic) {
        box.appendChild(el("div", "gd-synthetic", "SYNTHETIC DATA \u2014 not real incidents"));
    }
    box.appendChild(el("div", "gd-title-main", data.title.title));
    data.title.lines.forEach(function (text) {
        var line = el("div", "gd-title-line", text);
        line.title = String(text);  // the whole text on hover when it is cut short
        box.appendChild(line);
    });
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    map.createPane("gd-ranks").style.zIndex = 620;  // above marker clusters (600)

    function card(c) {
        var div = el("div", "gd-popup");
        div.appendChild(el("h4", null, c.title));
        if (c.sub) { div.appendChild(el("div", "gd-sub", c.sub)); }
        var table = el("table");
        c.rows.forEach(function (r) {
            var tr = el("tr");
            if (r.h !== undefined) {
                var th = el("th", "gd-section", r.h);
                th.colSpan = 2;
                tr.appendChild(th);
            } else {
                var k = el("th", null, r.k);
                if (typeof r.pct === "number") {
                    var share = el("div", "gd-share");
                    share.style.width = Math.max(0, Math.min(100, r.pct)) + "%";
                    k.appendChild(share);
                }
                tr.appendChild(k);
                tr.appendChild(el("td", null, r.v));
            }
            table.appendChild(tr);
        });
        div.appendChild(table);
        return div;
    }
    function popupOptions() {
        var top = box.offsetHeight + 20;
        return {
            maxWidth: 320,
            minWidth: 200,
            maxHeight: Math.max(120, Math.min(420, map.getSize().y - top - 70)),
            autoPanPaddingTopLeft: L.point(10, top),
            autoPanPaddingBottomRight: L.point(10, 10)
        };
    }
    function popup(c) { return function () { return card(c); }; }
    function tip(text) { return el("span", null, text); }
    function clusterIcon(kind) {
        return function (cluster) {
            var n = cluster.getChildCount();
            var inner = el("div", null, n >= 1000 ? Math.round(n / 1000) + "k" : n);
            return L.divIcon({html: inner, className: "gd-cluster " + kind, iconSize: L.point(34, 34)});
        };
    }
    function clusterGroup(kind) {
        return L.markerClusterGroup({
            maxClusterRadius: 40, chunkedLoading: true, showCoverageOnHover: false,
            iconCreateFunction: clusterIcon(kind)
        });
    }
    var layers = {};
    data.layers.forEach(function (spec) {
        var layer;
        if (spec.kind === "geojson") {
            layer = L.featureGroup();
            L.geoJSON(spec.data, {
                style: function (f) {
                    return spec.styles ? spec.styles[String(f.properties[spec.style_by])] : spec.style;
                },
                onEachFeature: function (f, l) {
                    if (f.properties.tip !== undefined) { l.bindTooltip(tip(f.properties.tip), {sticky: true}); }
                    if (f.properties.card !== undefined) { l.bindPopup(popup(f.properties.card), popupOptions()); }
                }
            }).addTo(layer);
        } else if (spec.kind === "image") {
            layer = L.imageOverlay(spec.url, spec.bounds, {
                opacity: spec.opacity, pane: "geodemand-density", interactive: false
            });
        } else if (spec.kind === "patrol") {
            layer = L.featureGroup();
            spec.data.features.forEach(function (f, i) {
                var c = f.properties.card;
                L.geoJSON(f, {style: function () { return spec.style; }})
                    .bindPopup(popup(c), popupOptions())
                    .bindTooltip(tip(f.properties.tip))
                    .addTo(layer);
                var label = el("div", null, f.properties.rank);
                L.marker(spec.labels[i], {pane: "gd-ranks", icon: L.divIcon({
                    html: label, className: "gd-rank-icon", iconSize: [24, 24], iconAnchor: [12, 12]
                })}).bindPopup(popup(c), popupOptions()).bindTooltip(tip(f.properties.tip)).addTo(layer);
            });
        } else if (spec.kind === "points") {
            layer = clusterGroup(spec.cluster);
            spec.markers.forEach(function (m) {
                L.circleMarker(m.at, spec.style)
                    .bindPopup(popup(m.card), popupOptions())
                    .bindTooltip(tip(m.tip))
                    .addTo(layer);
            });
        } else if (spec.kind === "incidents") {
            // compact points: [lat, lon, type index, when, place]; the card is built on demand
            layer = clusterGroup(spec.cluster);
            var markers = spec.points.map(function (p) {
                var c = {title: spec.types[p[2]], sub: "", rows: [{k: "When", v: p[3]}]};
                if (p[4]) { c.rows.push({k: "Place", v: p[4]}); }
                return L.circleMarker([p[0], p[1]], spec.style)
                    .bindPopup(popup(c), popupOptions())
                    .bindTooltip(tip(spec.types[p[2]]));
            });
            layer.addLayers(markers);
        } else {
            return;
        }
        if (spec.show !== false) { layer.addTo(map); }
        control.addOverlay(layer, spec.name);
        layers[spec.key] = layer;
    });
    if (data.legend.length) {
        var legend = L.control({position: "bottomright"});
        legend.onAdd = function () {
            var div = L.DomUtil.create("div", "gd-legend");
            data.legend.forEach(function (item) {
                if (item.bar) {
                    var bar = el("div", "gd-bar");
                    bar.style.background = "linear-gradient(to right, " + item.bar.join(", ") + ")";
                    bar.style.opacity = item.opacity;
                    div.appendChild(bar);
                    var ticks = el("div", "gd-ticks");
                    item.ticks.forEach(function (t) {
                        var s = el("span", "gd-tick", t[1]);
                        s.style.left = t[0] + "%";
                        ticks.appendChild(s);
                    });
                    div.appendChild(ticks);
                } else if (item.title !== undefined) {
                    div.appendChild(el("div", "gd-legend-title", item.title));
                } else {
                    var row = el("div", "gd-legend-row");
                    if (item.swatch) {
                        var sw = el("span", "gd-swatch");
                        if (item.swatch === "outline") {
                            sw.style.border = "3px solid " + item.colour;
                        } else {
                            sw.style.background = item.colour;
                            if (item.swatch === "dot") { sw.style.borderRadius = "50%"; }
                        }
                        row.appendChild(sw);
                    }
                    row.appendChild(document.createTextNode(item.text));
                    div.appendChild(row);
                }
            });
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        legend.addTo(map);
    }
    var Fullscreen = L.Control.extend({
        options: {position: "topleft"},
        onAdd: function () {
            var bar = L.DomUtil.create("div", "leaflet-bar");
            var a = L.DomUtil.create("a", "gd-fullscreen", bar);
            a.href = "#";
            a.title = "Full screen";
            a.setAttribute("role", "button");
            a.setAttribute("aria-label", "Full screen");
            a.appendChild(el("span", "gd-fullscreen-icon"));
            L.DomEvent.on(a, "click", function (e) {
                L.DomEvent.preventDefault(e);
                var c = map.getContainer();
                if (document.fullscreenElement) {
                    document.exitFullscreen();
                } else if (c.requestFullscreen) {
                    c.requestFullscreen();
                }
            });
            L.DomEvent.disableClickPropagation(bar);
            return bar;
        }
    });
    new Fullscreen().addTo(map);
    document.addEventListener("fullscreenchange", function () { map.invalidateSize(); });
    window.geodemandMap = {map: map, layers: layers};
})();
