"""Obligations: templates, recurring instances, the compliance clock, proof documents.

Scheduler jobs (wired by whoever owns the scheduler; both are safe on every replica):
- `core.obligations.clock.run_obligation_clock(db, now=None)`: status sweep by each
  tenant's local date and the reminders; run every few minutes.
- `core.obligations.generation.run_obligation_generation(db, now=None)`: extends every
  tenant's instances to the 12-month horizon; run daily (and after adding branches).
By job: `queries` (the page of open items, details, the CLI list), `actions` (complete,
waive, reopen), `templates` (templates and jurisdictions), `parsing` (ids, filters,
statuses from untrusted input), `documents` (proof uploads), and `policy` (who may do
what: asked by every surface, enforced by the actions).
"""
