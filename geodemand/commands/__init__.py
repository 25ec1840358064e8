"""Click subcommands, one module each; ``geodemand.cli`` registers them."""
