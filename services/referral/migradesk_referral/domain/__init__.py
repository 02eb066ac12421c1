"""Referral's domain: the referral state machine, the referral record and its follow-ups, routing, SLAs, the
shared contact of a person. Pure: no I/O."""
