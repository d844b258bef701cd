"""Connectors: one module per board, all filling the contract in `base.py`.

`REGISTRY` maps a provider name, as written under `providers:` in `boardsync.yaml`, to its
connector class. `http.py` builds each board's client: timeouts, rate limit, retries.
"""
