"""Pure domain rules of MigraDesk. Nothing in this package imports I/O (database, broker, HTTP)."""
