"""Building the local infrastructure's own binaries (the patched FerretDB)."""
