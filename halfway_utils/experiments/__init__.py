"""One package per notebook (a room), one module per claim in it: its measurement, rule and ledger entry."""
