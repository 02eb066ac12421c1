"""Metrics' domain: rollups, indicators, small-cell suppression. Pure: no I/O."""
