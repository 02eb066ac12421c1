"""The demo accounts of a development run: one per role, with passwords everyone knows (`make run` prints them).
The settings refuse to create them outside development."""

from __future__ import annotations

from migradesk_intake.accounts import DemoAccount
from migradesk_shared.contracts.vocabulary import Role

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("ana", "demo-staff-2026", Role.STAFF),
    # An agency of referral's demo directory (services/referral/.../demo_agencies.json).
    DemoAccount("recepcao.ubs", "demo-agency-2026", Role.AGENCY, agency_id="ubs-jardim-climax"),
    DemoAccount("coordenacao", "demo-coordinator-2026", Role.COORDINATOR),
    DemoAccount("admin", "demo-admin-2026", Role.ADMIN),
)
