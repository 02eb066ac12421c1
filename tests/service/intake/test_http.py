"""The thin HTTP side over the in-memory repository: paths, payloads, status codes and error bodies."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCreated
from tests.service.intake.helpers import cheap_passwords

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), municipality="Dourados-MS",
                          seed_demo_accounts=True)
STAFF = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="ana", role=Role.STAFF)}
ADMIN = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="dpo", role=Role.ADMIN)}
ERASURE = {"reason": "Data subject's request under LGPD art. 18, VI", "request_reference": "LGPD-2026-0042"}
PERSON = {"full_name": "Wilner Joseph", "birth_date": "1988-03-14", "sex": "male", "nationality": "HTI",
          "preferred_language": "ht", "languages": ["fr", "es"], "migratory_status": "acolhida_humanitaria",
          "documents": [{"type": "passport", "number": "HT1234567"}, {"type": "cpf", "number": "529.982.247-25"}],
          "phone": "(67) 99999-0000",
          "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"},
          "sensitive": {"race_colour": {"value": "preta", "legal_basis": "legal_obligation"},
                        "health": {"flags": ["continuous_medication"], "note": "insulina",
                                   "legal_basis": "consent"}}}
# The person as the desk keeps it: normalised, the preferred language first, only what was given.
REGISTERED = {**PERSON, "languages": ["ht", "fr", "es"], "phone": "+5567999990000",
              "documents": [{"type": "passport", "number": "HT1234567"}, {"type": "cpf", "number": "52998224725"}],
              "consent_history": [],
              "sensitive": {"race_colour": {"value": "preta", "legal_basis": "legal_obligation"},
                            "health": {"flags": ["continuous_medication"], "note": "insulina",
                                       "legal_basis": "consent"}}}


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Only a repository given: the app runs without runtime, store or broker.
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(), passwords=cheap_passwords()),
                    headers=STAFF) as test_client:
        yield test_client


def sign_in(client: TestClient) -> None:
    """The pages are for people: a demo staff member signs in (tests/service/intake/test_sign_in_http.py)."""
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    signed = client.post("/sign-in", data={"username": "ana", "password": "demo-staff-2026",
                                           "csrf_token": token.group(1)}, follow_redirects=False)
    assert signed.status_code == 303, signed.text


def open_case(client: TestClient, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/cases", json={"person": PERSON, "requests": [
        {"category": "school_enrolment", "description": "6º ano"}, {"category": "documentation"}], **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_case_is_opened_then_read_with_the_person_as_registered(client: TestClient) -> None:
    created = open_case(client, attended_in_own_language=True)
    assert sorted(created) == ["assigned_to", "case_id", "closed_at", "follow_ups", "municipality", "notes",
                               "opened_at", "outcome", "person", "person_id", "referrals", "requests", "status",
                               "timeline", "version"]
    assert created["assigned_to"] == "ana"
    assert [(w["actor"], w["action"]) for w in created["timeline"]] == [("staff:ana", "case.open")]
    assert created["referrals"] == []  # none routed yet
    assert (created["status"], created["version"], created["municipality"], created["person"]) == (
        "open", 1, "Dourados-MS", None)
    assert [(r["category"], r["service_area"], r["description"]) for r in created["requests"]] == [
        ("school_enrolment", "education", "6º ano"), ("documentation", None, None)]
    read = client.get(f"/api/cases/{created['case_id']}")
    assert read.status_code == 200
    body = read.json()
    # The consent given at the visit is dated by it.
    assert body["person"]["consent"].pop("recorded_at").startswith(created["opened_at"][:10])
    assert body == {**created, "person": REGISTERED}


def refused(client: TestClient, person: dict[str, Any], **extra: Any) -> list[tuple[str, str]]:
    """The (field, type) of each error of a registration that must be refused with 422; nothing is written."""
    response = client.post("/api/cases", json={"person": person, "requests": [{"category": "sus_card"}], **extra})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    for error in body["errors"]:
        assert error["field"] in body["message"]  # the summary names every field
    return [(e["field"], e["type"]) for e in body["errors"]]


def test_a_registration_without_a_legal_basis_or_a_sharing_choice_is_refused_naming_the_field(
        client: TestClient) -> None:
    assert refused(client, {**PERSON, "consent": {"share_with_partners": False, "recorded_by": "ana"}}) == [
        ("person.consent.legal_basis", "missing")]
    assert refused(client, {**PERSON, "consent": {"legal_basis": "consent", "recorded_by": "ana"}}) == [
        ("person.consent.share_with_partners", "missing")]
    assert refused(client, {**PERSON, "consent": {"legal_basis": "default", "share_with_partners": True,
                                                  "recorded_by": "ana"}}) == [("person.consent.legal_basis", "enum")]


def test_documents_phone_country_and_languages_in_a_wrong_format_are_refused_naming_the_field_and_row(
        client: TestClient) -> None:
    documents = [{"type": "passport", "number": "HT1234567"}, {"type": "cpf", "number": "529.982.247-24"},
                 {"type": "rnm", "number": "1234567-8"}, {"type": "refugee_protocol", "number": "abc"}]
    assert refused(client, {**PERSON, "documents": documents}) == [
        ("person.documents.1.number", "cpf_check_digits"), ("person.documents.2.number", "rnm_format"),
        ("person.documents.3.number", "protocol_format")]
    assert refused(client, {**PERSON, "phone": "99999-0000"}) == [("person.phone", "phone_format")]
    assert refused(client, {**PERSON, "nationality": "XXX"}) == [("person.nationality", "country_unknown")]
    assert refused(client, {**PERSON, "languages": ["fr", "zz"]}) == [("person.languages.1", "language_unknown")]
    response = client.post("/api/cases", json={"person": {**PERSON, "documents": documents[1:2]},
                                               "requests": [{"category": "sus_card"}]})
    [error] = response.json()["errors"]
    assert error["message"] == "not a valid CPF: the check digits do not match"


def test_sensitive_data_needs_its_own_legal_basis_and_orientation_the_persons_request(client: TestClient) -> None:
    def with_sensitive(**items: Any) -> dict[str, Any]:
        return {**PERSON, "sensitive": items}

    assert refused(client, with_sensitive(race_colour={"value": "parda"})) == [
        ("person.sensitive.race_colour.legal_basis", "missing")]
    assert refused(client, with_sensitive(gender_identity={"value": "non_binary"},
                                          health={"flags": [], "legal_basis": "consent"})) == [
        ("person.sensitive.health", "health_empty"), ("person.sensitive.gender_identity.legal_basis", "missing")]
    assert refused(client, with_sensitive(sexual_orientation={"value": "gay", "legal_basis": "consent"})) == [
        ("person.sensitive.sexual_orientation.recorded_at_persons_request", "missing")]
    assert refused(client, with_sensitive(sexual_orientation={"value": "gay", "legal_basis": "consent",
                                                              "recorded_at_persons_request": False})) == [
        ("person.sensitive.sexual_orientation.recorded_at_persons_request", "literal_error")]
    assert refused(client, with_sensitive(race_colour={"value": "unknown", "legal_basis": "consent"})) == [
        ("person.sensitive.race_colour.value", "enum")]
    assert client.post("/api/cases", json={"person": with_sensitive(sexual_orientation={
        "value": "gay", "legal_basis": "life_protection", "recorded_at_persons_request": True}),
        "requests": [{"category": "lgbtqia_phobia"}]}).status_code == 201


def test_a_consent_is_changed_and_withdrawn_through_the_api(client: TestClient) -> None:
    created = open_case(client)
    path = f"/api/persons/{created['person_id']}/consent"
    withdrawn = client.post(path, json={"legal_basis": "public_policy", "share_with_partners": False})
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert (body["person_id"], body["shared_with_partners"], body["cases_updated"]) == (
        created["person_id"], False, 1)
    assert body["consent"]["recorded_by"] == "ana" and body["consent"]["legal_basis"] == "public_policy"
    person = client.get(f"/api/cases/{created['case_id']}").json()["person"]
    assert person["consent"]["share_with_partners"] is False and "recorded_at" in person["consent"]
    [given] = person["consent_history"]
    assert given.pop("recorded_at").startswith(created["opened_at"][:10]) and given == PERSON["consent"]
    missing = client.post(path, json={"share_with_partners": True})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "legal_basis"
    unknown = client.post("/api/persons/nobody/consent", json={"legal_basis": "consent", "share_with_partners": True})
    assert unknown.status_code == 404 and unknown.json()["field"] == "person_id"


def test_unknown_cases_people_and_links_answer_404_naming_the_field(client: TestClient) -> None:
    missing = client.get("/api/cases/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "case nope does not exist", "field": "case_id"}
    link = client.post("/api/cases", json={"requests": [{"category": "sus_card"}], "existing_person_id": "nobody"})
    assert link.status_code == 404 and link.json()["field"] == "existing_person_id"
    both = client.post("/api/cases", json={"person": PERSON, "requests": [{"category": "sus_card"}],
                                           "existing_person_id": "nobody"})
    assert both.status_code == 422 and both.json()["errors"][0]["type"] == "person_and_existing"
    erase = client.request("DELETE", "/api/persons/nobody", json=ERASURE, headers=ADMIN)
    assert erase.status_code == 404 and erase.json()["field"] == "person_id"


def test_candidates_link_and_erasure(client: TestClient) -> None:
    created = open_case(client)
    check = client.post("/api/persons/duplicate-candidates", json={"full_name": "WILNER  JOSEPH",
                                                                   "birth_date": "1988-03-14"})
    assert check.status_code == 200
    [candidate] = check.json()["candidates"]
    assert candidate == {"person_id": created["person_id"], "score": 90, "strength": "probable",
                         "reasons": ["same name (ignoring accents, case and spacing)", "same birth date"],
                         "reason_codes": ["same_name", "same_birth_date"],
                         "full_name": "Wilner Joseph", "birth_date": "1988-03-14", "nationality": "HTI",
                         "case_ids": [created["case_id"]]}
    linked = client.post("/api/cases", json={"existing_person_id": created["person_id"],
                                             "requests": [{"category": "sus_card"}]})
    assert linked.status_code == 201 and linked.json()["person_id"] == created["person_id"]
    person_url = f"/api/persons/{created['person_id']}"
    # Erasure cannot be undone: the desk's staff cannot do it, and an administrator must say why.
    by_staff = client.request("DELETE", person_url, json=ERASURE)
    assert by_staff.status_code == 403
    for bad, field in (({}, "reason"), ({"reason": "   "}, "reason"), ({"reason": "x" * 501}, "reason"),
                       ({**ERASURE, "request_reference": ""}, "request_reference"), (None, "body")):
        refused = client.request("DELETE", person_url, headers=ADMIN, **({"json": bad} if bad is not None else {}))
        assert refused.status_code == 422, (bad, refused.text)
        assert field in refused.json()["errors"][0]["field"], (bad, refused.json())
    assert client.get(f"/api/cases/{created['case_id']}").json()["person"]["full_name"] == "Wilner Joseph"
    erased = client.request("DELETE", person_url, json=ERASURE, headers=ADMIN)
    assert erased.status_code == 200
    assert erased.json() == {"person_id": created["person_id"], "erased_from_cases": 2}
    person = client.get(f"/api/cases/{created['case_id']}").json()["person"]
    assert sorted(person) == ["erased", "erased_at"] and person["erased"] is True
    repository = client.app.state.store  # type: ignore[attr-defined]
    [erasure] = [a for a in client.portal.call(repository.accesses_to, created["person_id"])  # type: ignore[union-attr]
                 if a.action.value == "person.erase"]
    assert (erasure.actor, erasure.reason, erasure.reference) == ("admin:dpo", ERASURE["reason"], "LGPD-2026-0042")


def test_activities_categories_the_desk_page_and_readiness(client: TestClient) -> None:
    logged = client.post("/api/activities", json={"kind": "participation_event", "held_on": "2026-11-10",
                                                  "event_kind": "cultural", "migrant_participants": 40})
    assert logged.status_code == 201
    assert sorted(logged.json()) == ["activity_id", "held_on", "kind"]
    assert logged.json()["held_on"] == "2026-11-10" and logged.json()["kind"] == "participation_event"
    assert client.post("/api/activities", json={"kind": "training"}).status_code == 422
    categories = client.get("/api/categories").json()["categories"]
    assert {"code": "sus_card", "area": "health", "label_pt": "Cartão SUS"} in categories
    sign_in(client)
    page = client.get("/")
    assert page.status_code == 200 and 'id="case-form"' in page.text
    assert client.get("/health/ready").json() == {"status": "ready", "checks": {"store": True}}


def test_the_desk_page_is_rendered_in_the_language_of_the_request(client: TestClient) -> None:
    sign_in(client)
    portuguese = client.get("/")
    assert '<html lang="pt-BR">' in portuguese.text and "Registrar atendimento" in portuguese.text
    spanish = client.get("/", headers={"Accept-Language": "es-VE,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Registrar atención" in spanish.text
    assert '<label for="full_name">Nombre completo</label>' in spanish.text
    # Every request category is offered, named in the page's language, grouped by service area.
    for code in CATEGORIES:
        assert f'<option value="{code}">' in spanish.text
    assert '<optgroup label="Salud">' in spanish.text and "Curso de portugués" in spanish.text
    chosen = client.get("/?lang=ht")
    assert '<html lang="ht">' in chosen.text and chosen.cookies.get("migradesk_lang") == "ht"


def test_the_desk_form_ticks_and_chooses_nothing_in_advance(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/?lang=fr").text
    start = page.index('<form id="case-form"')
    form = page[start:page.index("</form>", start)]
    assert " checked" not in form
    # Only neutral defaults are selected: no legal basis, nationality or preferred language is chosen for staff.
    assert re.findall(r"<option [^>]*selected", form) == []
    for legal_basis in ("consent", "legal_obligation", "public_policy", "life_protection"):
        assert f'type="radio" id="legal_basis-{legal_basis}"' in form
    # Countries and languages by name, in the page's language; the API stores their codes.
    assert '<option value="HTI">Haïti</option>' in form and '<option value="DEU">Allemagne</option>' in form
    assert '<option value="gn">Guarani</option>' in form
    # What staff read to the person, in each language of the desk, whatever the page's.
    messages = json.loads(re.search(r'<script type="application/json" id="desk-messages">(.*?)</script>', page,
                                    re.S).group(1))  # type: ignore[union-attr]
    read_aloud = messages["read_aloud"]
    assert set(read_aloud["texts"]) == {"pt_BR", "es", "fr", "ht", "en"}
    assert read_aloud["texts"]["es"]["bases"]["consent"].startswith("Usted decide.")
    assert read_aloud["texts"]["ht"]["sharing"].startswith("Si ou di wi")
    assert read_aloud["locale_of_language"] == {"pt": "pt_BR", "es": "es", "ht": "ht", "fr": "fr", "en": "en"}


def test_the_desk_api_needs_staff(client: TestClient) -> None:
    assert client.get("/api/cases/x", headers={"Authorization": ""}).status_code == 401


def test_a_case_read_shows_its_referrals_live_status(client: TestClient) -> None:
    created = open_case(client)
    request_id = created["requests"][0]["request_id"]
    routed = {"referral_id": "ref-1", "case_id": created["case_id"], "request_id": request_id,
              "category": "school_enrolment", "service_area": "education", "municipality": "Dourados-MS",
              "producer": "referral", "occurred_at": "2026-11-20T09:00:00+00:00"}
    accepted = {k: v for k, v in routed.items() if k not in ("request_id", "category")} | {
        "agency_id": "escola-1", "referral_created_at": routed["occurred_at"],
        "occurred_at": "2026-11-20T10:00:00+00:00"}
    facets = {"age_band": "30-39", "sex": "male", "nationality": "HTI", "language": "ht",
              "migratory_status": "acolhida_humanitaria"}
    service: Any = client.app.state.service  # type: ignore[attr-defined]
    client.portal.call(service.record_referral_events, [  # type: ignore[union-attr]
        ReferralCreated(**routed, agency_id="escola-1", facets=PersonFacets(**facets)),
        ReferralAccepted(**accepted)])
    read = client.get(f"/api/cases/{created['case_id']}")
    assert read.status_code == 200
    assert read.json()["referrals"] == [{"referral_id": "ref-1", "request_id": request_id, "agency_id": "escola-1",
                                         "service_area": "education", "status": "accepted",
                                         "status_at": "2026-11-20T10:00:00Z"}]
