"""Intake's entry points: the HTTP routes and the API's payload models (intake consumes no topic and runs no job)."""
