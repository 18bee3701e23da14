"""Operating mailloop: signals and reloads, operator requests, parked mail, explain,
metrics, data protection (retention, forget, export), backups and checks.

Everything here works beside the daemon through its hooks (`Daemon.tasks`,
`observers`, `status_observers`, `Ledger.observers`), never inside the pure steps.
See docs/operations.md.
"""
