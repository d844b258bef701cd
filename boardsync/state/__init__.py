"""State: the SQLModel tables (bindings, intents, runs, actions, drift, visits, links), the
database engine and its schema version, and the queries behind status and metrics."""
