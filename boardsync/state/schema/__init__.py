"""The state database's migrations as Alembic runs them: `env.py` (how boardsync hands Alembic
its connection) and `versions/`, one file per revision. `boardsync.state.migrations` drives
them; nothing here is imported by the rest of boardsync."""
