"""One module per notebook: its measurements, its claims and their rules."""
