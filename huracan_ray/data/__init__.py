"""Market data in: sources (synthetic now, exchanges next), vectorised validation, Ray Data ingest into the Brain."""
