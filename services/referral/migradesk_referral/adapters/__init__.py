"""Referral's adapters: the repository (MongoDB-compatible store, and in memory), mappers and views."""
