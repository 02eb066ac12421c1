"""Intake's domain: cases, persons and consent, duplicate detection. Pure: no I/O."""
