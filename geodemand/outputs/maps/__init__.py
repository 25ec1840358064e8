"""Hot-spot maps: one validated :class:`MapLayers` input rendered as an interactive folium
page (:mod:`.web`) or a static PNG (:mod:`.png`)."""
