"""Storage adapter: SQLAlchemy models, engine set-up per backend, Alembic migrations."""
