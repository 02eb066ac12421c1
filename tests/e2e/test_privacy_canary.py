"""The privacy canary (LGPD): a person whose every personal datum is a unique marker goes through a full life —
registered, routed, read and accepted by the agency, checked for duplicates, erased — and afterwards no marker
appears in any log line or exported trace span of the three services.

The stack is this module's own: the services export their spans to the console, and a process's console output
is its log file, so reading the log files reads the spans too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pymongo import AsyncMongoClient

from infra.local.services import ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_intake.domain.documents import cpf_check_digits
from migradesk_shared.auth import Role
from tests.conftest import eventually
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

# ConsoleSpanExporter writes each span as JSON naming its kind: proof that spans were exported at all, so the
# scan cannot pass by exporting nothing.
SERVER_SPAN_MARKER = '"kind": "SpanKind.SERVER"'
CONSUMER_SPAN_MARKER = '"kind": "SpanKind.CONSUMER"'


@dataclass(frozen=True)
class CanaryStack:
    services: dict[str, ServiceProcess]
    tokens: Tokens
    namespace: str


@pytest.fixture(scope="module")
def canary_stack(infra: Infra) -> Iterator[CanaryStack]:
    namespace, secret = new_namespace("canary"), secrets.token_urlsafe(32)
    extra_env = {
        "REFERRAL_SEED_DEMO_AGENCIES": "true",
        "OTEL_TRACES_EXPORTER": "console",
        # Export each batch of spans within 200 ms rather than 5 s: uvicorn re-raises SIGTERM once it has shut
        # down, so the process dies without the exit hook that would export the last batch.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # Unbuffered, so a log line is in the file as soon as it is written, even if a process dies.
        "PYTHONUNBUFFERED": "1",
    }
    with running_services(infra, namespace, secret, extra_env=extra_env) as services:
        yield CanaryStack(services, Tokens(secret), namespace)


def _letters(seed: str) -> str:
    """Hex digits as letters (0→a … f→p): a name token no dictionary, other test or demo record contains."""
    return "".join(chr(ord("a") + int(c, 16)) for c in seed)


@dataclass(frozen=True)
class Canary:
    """One person's personal data, each datum unique to this run."""

    first: str
    family: str
    subscriber: str  # the mobile number's nine digits after the area code
    cpf: str  # 11 digits, valid check digits
    passport: str
    description: str
    health_note: str
    comment: str

    @classmethod
    def new(cls) -> Canary:
        seed = uuid.uuid4().hex
        first, family = _letters(seed[:8]).capitalize(), _letters(seed[8:16]).capitalize()
        digits = str(uuid.uuid4().int)
        subscriber = "9" + digits[:8]
        # A first digit of 1 keeps the nine digits from ever being all equal (which the Receita never issues).
        nine = "1" + digits[8:16]
        return cls(first=first, family=family, subscriber=subscriber, cpf=nine + cpf_check_digits(nine),
                   passport=f"CN{seed[16:23].upper()}",
                   description=f"Canário {family} precisa de consulta {_letters(seed[23:31])}",
                   health_note=f"Canário toma remédio {_letters(seed[31:32] + seed[:7])} todo dia",
                   comment=f"Canário {first} atendido pela recepção {_letters(seed[24:32])}")

    @property
    def full_name(self) -> str:
        return f"Canário {self.first} {self.family}"

    @property
    def phone_as_typed(self) -> str:
        return f"+55 67 {self.subscriber[:5]}-{self.subscriber[5:]}"

    @property
    def cpf_as_typed(self) -> str:
        return f"{self.cpf[:3]}.{self.cpf[3:6]}.{self.cpf[6:9]}-{self.cpf[9:]}"

    def strings(self) -> dict[str, str]:
        """Every form in which a datum could leak, by what it is."""
        found = {"full name": self.full_name, "phone as typed": self.phone_as_typed,
                 "phone E.164": f"+5567{self.subscriber}", "phone digits": f"5567{self.subscriber}",
                 "phone national": f"67{self.subscriber}", "phone subscriber": self.subscriber,
                 "CPF digits": self.cpf, "CPF as typed": self.cpf_as_typed, "passport": self.passport,
                 "description": self.description, "health note": self.health_note, "comment": self.comment}
        for text in (self.full_name, self.description, self.health_note, self.comment):
            found.update({f"token {t}": t for t in text.split() if len(t) > 3 and t.isalpha()
                          and t.lower() not in _COMMON_WORDS})
        return found


# Words of the canary texts that are not personal and that logs may rightly contain ("consulta" as a category).
_COMMON_WORDS = {"precisa", "consulta", "toma", "remédio", "todo", "atendido", "pela", "recepção"}


def _spellings(value: str) -> set[str]:
    """The value as a log line or a JSON span may spell it: as is, JSON-escaped (ensure_ascii), URL-encoded,
    and as the repr of its UTF-8 bytes; lower-cased, as the scan is."""
    return {v.lower() for v in (value, json.dumps(value)[1:-1], quote(value), quote_plus(value),
                                repr(value.encode())[2:-1])}


def canaries_in(text: str, canaries: dict[str, str]) -> dict[str, str]:
    """The canaries found in `text` (what they are → the spelling found)."""
    lowered = text.lower()
    return {what: spelled for what, value in canaries.items() for spelled in _spellings(value) if spelled in lowered}


def scan_files(paths: Iterable[Path], canaries: dict[str, str]) -> dict[str, list[str]]:
    """Per file, the lines holding a canary (file name → "line number: what it is")."""
    leaks: dict[str, list[str]] = {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="backslashreplace").splitlines(), 1):
            for what in canaries_in(line, canaries):
                leaks.setdefault(path.name, []).append(f"{number}: {what}")
    return leaks


def test_the_scanner_finds_every_spelling() -> None:
    canary = Canary.new()
    canaries = canary.strings()
    line = json.dumps({"name": canary.full_name, "url": f"/x?q={quote(canary.description)}"})
    assert {"full name", "description"} <= set(canaries_in(line, canaries))
    assert "CPF as typed" in canaries_in(f"cpf={canary.cpf_as_typed!r}", canaries)
    assert "comment" in canaries_in(repr(canary.comment.encode()), canaries)
    assert canaries_in("nothing personal here: case_id=123", canaries) == {}


async def test_no_personal_data_in_any_log_line_or_span(canary_stack: CanaryStack, infra: Infra) -> None:
    services, tokens = canary_stack.services, canary_stack.tokens
    intake, referral = services["intake"].url, services["referral"].url
    canary = Canary.new()
    canaries = canary.strings()
    person = {"full_name": canary.full_name, "birth_date": "1987-03-09", "sex": "female", "nationality": "VEN",
              "preferred_language": "es", "migratory_status": "solicitante_refugio", "phone": canary.phone_as_typed,
              "documents": [{"type": "cpf", "number": canary.cpf_as_typed},
                            {"type": "passport", "number": canary.passport}],
              "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"},
              "sensitive": {"health": {"legal_basis": "consent", "flags": ["chronic_condition"],
                                       "note": canary.health_note}}}
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        created = await client.post(f"{intake}/api/cases", json={
            "person": person, "requests": [{"category": "sus_card", "description": canary.description}]})
        assert created.status_code == 201, created.text
        case_id, person_id = created.json()["case_id"], created.json()["person_id"]

        # The scanner works: the desk's own API and store do hold the data (before erasure), and it finds them.
        read_back = await client.get(f"{intake}/api/cases/{case_id}")
        assert read_back.status_code == 200
        assert {"full name", "CPF digits", "passport", "description"} <= set(canaries_in(read_back.text, canaries))
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri)
        try:
            stored = await mongo[f"{canary_stack.namespace}_intake"]["persons"].find_one({"_id": person_id})
            assert stored is not None and "full name" in canaries_in(str(stored), canaries)
        finally:
            await mongo.close()

        async def routed() -> list[dict[str, Any]]:
            response = await client.get(f"{referral}/api/referrals", params={"case_id": case_id})
            return list(response.json()["referrals"]) if response.status_code == 200 else []

        [pending] = await eventually(routed, what="the referral")
        rid, agency = pending["referral_id"], tokens.agency(pending["agency_id"])

        async def contact() -> Any:
            response = await client.get(f"{referral}/api/referrals/{rid}", headers=agency)
            return response.json().get("person") if response.status_code == 200 else None

        # The agency reads the referral with the person's name and phone.
        seen = await eventually(contact, what="the person's contact at the serving agency")
        assert seen["full_name"] == canary.full_name and seen["phone"] == f"+5567{canary.subscriber}"
        accepted = await client.post(f"{referral}/api/referrals/{rid}/actions", headers=agency,
                                     json={"action": "accept", "expected_version": 1, "comment": canary.comment})
        assert accepted.status_code == 200, accepted.text

        check = await client.post(f"{intake}/api/persons/duplicate-candidates", json={
            "full_name": canary.full_name, "birth_date": "1987-03-09", "nationality": "VEN",
            "documents": [{"type": "cpf", "number": canary.cpf}]})
        assert check.status_code == 200, check.text
        assert person_id in {c["person_id"] for c in check.json()["candidates"]}
        # Bad input that echoes personal data back must not echo it into a log either.
        bad = await client.post(f"{intake}/api/persons/duplicate-candidates", json={
            "full_name": canary.full_name, "nationality": canary.family,
            "documents": [{"type": "passport", "number": f"{canary.passport}!"}]})
        assert bad.status_code == 422
        # Nor does a query string: a search by what someone typed in a filter is not logged or traced with it.
        searched = await client.get(f"{referral}/api/referrals", params={"case_id": canary.full_name})
        assert searched.status_code == 200 and searched.json()["referrals"] == []

        erased = await client.request("DELETE", f"{intake}/api/persons/{person_id}",
                                      json={"reason": "Data subject's request under LGPD art. 18, VI"},
                                      headers=tokens.headers(Role.ADMIN, subject="dpo"))
        assert erased.status_code == 200, erased.text

        async def agency_copy_gone() -> bool:
            return await contact() is None

        await eventually(agency_copy_gone, what="the agency's copy erased")

    # The last requests' spans are exported before the processes stop (stopping would lose the last batch).
    async def exported(service: ServiceProcess, span_name: str) -> bool:
        return f'"name": "{span_name}"' in service.log_path.read_text(encoding="utf-8", errors="replace")

    await eventually(lambda: exported(services["intake"], f"DELETE /api/persons/{person_id}"),
                     what="intake's span of the erasure")
    await eventually(lambda: exported(services["referral"], f"GET /api/referrals/{rid}"),
                     what="referral's span of the agency's read")

    async def erasure_traced() -> bool:
        # The tombstone's span, named after the (namespaced) topic it was read from.
        text = services["referral"].log_path.read_text(encoding="utf-8", errors="replace")
        return 'intake.person-profiles.v1 erase"' in text

    await eventually(erasure_traced, what="referral's span of the erasure")
    # Consumers may still be ending their spans (the erasure's tombstone, the acceptance in metrics): five
    # export intervals for them to reach the files.
    await asyncio.sleep(1)
    for service in services.values():
        service.stop()
    logs = [service.log_path for service in services.values()]
    assert all(path.is_file() for path in logs), logs
    text = {path.name: path.read_text(encoding="utf-8", errors="backslashreplace") for path in logs}
    assert SERVER_SPAN_MARKER in text[services["intake"].log_path.name], "intake exported no request span"
    assert SERVER_SPAN_MARKER in text[services["referral"].log_path.name], "referral exported no request span"
    assert CONSUMER_SPAN_MARKER in text[services["referral"].log_path.name], "referral exported no consumer span"
    assert CONSUMER_SPAN_MARKER in text[services["metrics"].log_path.name], "metrics exported no consumer span"
    assert scan_files(logs, canaries) == {}
