"""Versioned event contracts exchanged over Kafka. The public contract with partner agencies' systems."""
