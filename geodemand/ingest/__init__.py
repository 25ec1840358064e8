"""Stage 1, ingest: incident files into the canonical schema (every record accepted or
rejected with a reason), boundary layers and the exact area join, synthetic incidents."""
