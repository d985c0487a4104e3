"""Budgets: B_seq and B_total from call records, reservations against the caps, billed failed attempts
(`accounting`)."""
