"""Stage 6, outputs: rendering and writing only (maps, rasters, tables, control-plan sheets,
the summary and the manifest). Outputs never compute statistics."""
