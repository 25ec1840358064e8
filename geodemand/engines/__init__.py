"""Stage 3, engines: kernel density, Getis-Ord Gi* hot spots, emerging hot spots, period
change, repeat places and concentration, near-repeat Knox tests. Engines compute and return
results; they write nothing."""
