"""Stage 4, decide: control-plan targets ranked with every score explained, patrol areas
and their dosage."""
