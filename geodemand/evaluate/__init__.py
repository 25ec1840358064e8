"""Stage 5, evaluate: capture metrics (hit rate, PAI, PEI*, RRI), rolling backtests and the
intervention effect (weighted displacement)."""
