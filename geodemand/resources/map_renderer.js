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
    function card(c) {
        var div = el("div", "gd-popup");
        div.appendChild(el("h4", null, c.title));
        var table = el("table");
        c.rows.forEach(function (r) {
            var tr = el("tr");
            if (r.h !== undefined) {
                var th = el("th", "gd-section", r.h);
                th.colSpan = 2;
                tr.appendChild(th);
            } else {
                tr.appendChild(el("th", null, r.k));
                tr.appendChild(el("td", null, r.v));
            }
            table.appendChild(tr);
        });
        div.appendChild(table);
        return div;
    }
    function popup(c) { return function () { return card(c); }; }
    function tip(text) { return el("span", null, text); }
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
                    if (f.properties.card !== undefined) { l.bindPopup(popup(f.properties.card), {maxWidth: 360}); }
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
                    .bindPopup(popup(c), {maxWidth: 360})
                    .bindTooltip(tip(f.properties.tip))
                    .addTo(layer);
                var label = el("div", null, f.properties.rank);
                L.marker(spec.labels[i], {icon: L.divIcon({
                    html: label, className: "gd-rank-icon", iconSize: [24, 24], iconAnchor: [12, 12]
                })}).bindPopup(popup(c), {maxWidth: 360}).addTo(layer);
            });
        } else if (spec.kind === "points") {
            layer = L.markerClusterGroup({maxClusterRadius: 40});
            spec.markers.forEach(function (m) {
                L.circleMarker(m.at, spec.style)
                    .bindPopup(popup(m.card), {maxWidth: 360})
                    .bindTooltip(tip(m.tip))
                    .addTo(layer);
            });
        } else {
            return;
        }
        layer.addTo(map);
        control.addOverlay(layer, spec.name);
        layers[spec.key] = layer;
    });
    var box = L.DomUtil.create("div", "gd-title", map.getContainer());
    if (data.title.synthetic) {
        box.appendChild(el("div", "gd-synthetic", "SYNTHETIC DATA \u2014 not real incidents"));
    }
    box.appendChild(el("div", "gd-title-main", data.title.title));
    box.appendChild(el("div", "gd-title-sub", data.title.sub));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
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
            a.textContent = "\u26F6";
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
