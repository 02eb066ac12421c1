"""Referral's domain: the referral state machine, routing, SLAs. Pure: no I/O."""
