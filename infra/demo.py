"""Demo data for a first `make run`: one account per role to sign in with, a handful of realistic requests and a
governance register (instruments and activities), so every page and figure has data.

The accounts (migradesk_intake.demo lists them, with their known passwords) are created by intake itself at
start-up when DEMO_ACCOUNTS_ENV is in its environment; its settings refuse that outside development. The cases'
names are invented; they are posted through the public API, like a desk would, so they travel the whole
pipeline.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date, timedelta
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


def demo_register(today: date) -> list[tuple[str, dict[str, Any]]]:
    """("instruments" or "activities", the record's facts) of a municipality a few years into its migration
    policy: its law and plan, a council with migrant seats, an agreement, and this year's activities."""
    def ago(days: int) -> str:
        return (today - timedelta(days=days)).isoformat()

    return [
        ("instruments", {"kind": "law", "title": "Política Municipal para a População Migrante",
                         "reference": "Lei nº 4.987/2023", "adopted_on": "2023-06-20"}),
        ("instruments", {"kind": "municipal_plan", "title": "Plano Municipal de Acolhimento de Migrantes",
                         "reference": "Decreto nº 312/2024", "adopted_on": "2024-03-11", "ends_on": "2027-12-31"}),
        ("instruments", {"kind": "council", "title": "Conselho Municipal dos Direitos dos Migrantes",
                         "reference": "Decreto nº 98/2024", "adopted_on": "2024-05-02", "migrant_seats": 6}),
        ("instruments", {"kind": "partnership_agreement", "title": "Acordo de cooperação para o ensino de português",
                         "partner": "Universidade Federal da Grande Dourados", "adopted_on": "2025-02-14"}),
        ("activities", {"kind": "training", "held_on": ago(40), "title": "Lei de Migração e acolhimento no SUS",
                        "audience": "public_servants", "servants_trained_by_sector": {"health": 18, "education": 6}}),
        ("activities", {"kind": "awareness_campaign", "held_on": ago(25), "title": "Semana do Migrante",
                        "audience": "civil_society", "participants": 420}),
        ("activities", {"kind": "cultural_event", "held_on": ago(18), "title": "Festival de culturas migrantes",
                        "participants": 150}),
        ("activities", {"kind": "information_material", "held_on": ago(12), "title": "Como tirar o Cartão SUS",
                        "languages": ["es", "ht", "fr"]}),
        ("activities", {"kind": "network_meeting", "held_on": ago(5), "title": "Reunião da rede de acolhimento",
                        "participants": 14}),
    ]


def seed_demo_register(intake_url: str, token: str, today: date) -> int:
    records = demo_register(today)
    for collection, facts in records:
        request = urllib.request.Request(  # noqa: S310 - the local intake service
            f"{intake_url}/api/governance/{collection}", data=json.dumps(facts).encode(), method="POST",
            headers={"content-type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 201:
                raise RuntimeError(f"demo register record refused: {response.status}")
    return len(records)
