"""Demo data for a first `make run`: one account per role to sign in with, and a handful of realistic requests so
every page and figure has data.

The accounts (migradesk_intake.demo lists them, with their known passwords) are created by intake itself at
start-up when DEMO_ACCOUNTS_ENV is in its environment; its settings refuse that outside development. The cases'
names are invented; they are posted through the public API, like a desk would, so they travel the whole
pipeline.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from migradesk_intake.demo import DEMO_ACCOUNTS

DEMO_ACCOUNTS_ENV = {"INTAKE_SEED_DEMO_ACCOUNTS": "true"}


def demo_sign_ins() -> list[tuple[str, str, str, str]]:
    """(role, username, password, agency id or "") of each demo account, as `make run` prints them."""
    return [(a.role.value, a.username, a.password, a.agency_id or "") for a in DEMO_ACCOUNTS]

DEMO_CASES: list[tuple[str, str, str, str, str, str, list[str]]] = [
    # full name, birth date, sex, nationality, language, migratory status, request categories
    ("María Fernanda Rojas", "1991-04-12", "female", "VEN", "es", "residencia_temporaria", ["sus_card", "cadunico"]),
    ("José Gregorio Pérez", "1985-09-30", "male", "VEN", "es", "solicitante_refugio",
     ["job_placement", "ctps_digital"]),
    ("Wislande Jean-Baptiste", "1994-02-17", "female", "HTI", "ht", "acolhida_humanitaria",
     ["portuguese_course", "maternal_care"]),
    ("Jean-Robert Pierre", "1979-11-03", "male", "HTI", "fr", "residencia_temporaria", ["vocational_training"]),
    ("Lucía Benítez", "2012-06-21", "female", "PRY", "es", "residente_fronteirico", ["school_enrolment"]),
    ("Carlos Mamani", "1968-01-15", "male", "BOL", "es", "residencia_temporaria", ["bpc", "documentation"]),
    ("Yaima Hernández", "1997-08-08", "female", "CUB", "es", "solicitante_refugio", ["gender_violence"]),
    ("Ana Lucía Quispe", "2001-12-01", "female", "BOL", "es", "indocumentado", ["legal_orientation", "rent_support"]),
]


def demo_payload(case: tuple[str, str, str, str, str, str, list[str]]) -> dict[str, Any]:
    name, born, sex, nationality, language, status, categories = case
    return {"person": {"full_name": name, "birth_date": born, "sex": sex, "nationality": nationality,
                       "preferred_language": language, "migratory_status": status,
                       "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "demo"}},
            "requests": [{"category": c} for c in categories]}


def seed_demo_cases(intake_url: str, token: str) -> int:
    for case in DEMO_CASES:
        request = urllib.request.Request(  # noqa: S310 - the local intake service
            f"{intake_url}/api/cases", data=json.dumps(demo_payload(case)).encode(), method="POST",
            headers={"content-type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 201:
                raise RuntimeError(f"demo case refused: {response.status}")
    return len(DEMO_CASES)
