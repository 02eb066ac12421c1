"""Metrics' adapters: the rollup repository (Mongo and in-memory) and the API views."""
