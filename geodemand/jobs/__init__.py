"""Stage 7, jobs: the weekly run that orchestrates every stage and writes the bundle."""
