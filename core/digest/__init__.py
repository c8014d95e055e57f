"""The daily digest and `/digest` (see `service`)."""
