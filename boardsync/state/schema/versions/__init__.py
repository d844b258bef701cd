"""One file per revision of the state database's schema, each naming the revision before it."""
