"""Pure rules and values: no SQLAlchemy, no I/O."""
