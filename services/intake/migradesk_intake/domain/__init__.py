"""Intake's domain: cases, persons and consent, duplicate detection, governance activities, access audit.
Pure: no I/O."""
