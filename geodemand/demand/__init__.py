"""Stage 2, demand: crime-type vocabulary and harm weights, reporting periods, the data
window with its weights and exclusions, and named places."""
