"""The daemon: the scheduler, systemd's notify protocol and watchdog, signals, and the local
HTTP surface (health, readiness, Prometheus metrics, redirects to fresh signed links)."""
