"""The evidence: intervals, the claims ledger and the report."""
