"""Database schema, column types, engine construction and migrations."""
