"""Intake's adapters: the repository (its interface, the store and an in-memory twin), mappers and views."""
