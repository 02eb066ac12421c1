"""Metrics' entry points: the HTTP routes and the Kafka consumers, each a thin call into the service layer."""
