"""Referral's entry points: HTTP routes, Kafka consumers, periodic jobs; each turns input into one use case."""
