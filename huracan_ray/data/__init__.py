"""Market data in: sources (synthetic now, exchanges next), vectorised validation, Ray ingest into the Brain."""
