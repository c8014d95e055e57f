"""Obligations: templates, recurring instances, the compliance clock, proof documents.

Scheduler jobs (wired by whoever owns the scheduler; both are safe on every replica):
- `core.obligations.clock.run_obligation_clock(db, now=None)`: status sweep by each
  tenant's local date and the reminders; run every few minutes.
- `core.obligations.generation.run_obligation_generation(db, now=None)`: extends every
  tenant's instances to the 12-month horizon; run daily (and after adding branches).
Actions for the bot and the CLI are in `core.obligations.service` (list, details,
complete, waive, reopen, templates) and `core.obligations.documents` (proof uploads).
"""
