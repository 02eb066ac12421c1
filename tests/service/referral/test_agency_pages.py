"""The agency directory's pages and API over the in-memory repository: an administrator lists the agencies (active
and inactive), adds one, edits it over the version shown (a stale edit comes back as 409 with the agency now),
sees errors next to the fields, deactivates it (its referrals move) and activates it; a coordinator reads, others
are refused; the pages speak the five languages; the API answers 201/422 naming the field/409/403."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from migradesk_referral.adapters.memory import InMemoryReferralRepository
from migradesk_referral.bootstrap import create_app
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea
from migradesk_shared.web.session import SESSION_COOKIE
from tests.service.referral.helpers import routed, unique
from tests.service.referral.test_inbox_pages import ENGLISH, SETTINGS, csrf, session_cookie

SINE = "sine-dourados"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(SETTINGS, repository=InMemoryReferralRepository()), headers=ENGLISH) as client:
        yield client


def sign_in(client: TestClient, role: Role, agency_id: str | None = None) -> None:
    client.cookies.set(SESSION_COOKIE, session_cookie(role, subject="alice", agency_id=agency_id))


def form(page: str, **fields: Any) -> list[tuple[str, str]]:
    base: dict[str, Any] = {"csrf_token": csrf(page), "name": "CRAS Água Boa", "type": "CRAS",
                            "areas": ["social_assistance"], "languages": ["pt", "ht"], "address": "Rua A",
                            "capacity": "12", "hours_mon": "08:00-12:00, 13:00-17:00"}
    base.update(fields)
    return [(k, v) for k, values in base.items()
            for v in (values if isinstance(values, list) else [values])]


def post(client: TestClient, url: str, fields: list[tuple[str, str]], **kwargs: Any) -> Any:
    """A form's POST with repeated fields (checkboxes), url-encoded as a browser sends it."""
    return client.post(url, content=urlencode(fields), headers={
        "Content-Type": "application/x-www-form-urlencoded"}, **kwargs)


def version_of(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found is not None
    return found.group(1)


def api(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS.api_token_secret, subject='alice', role=role)}"}


def test_an_administrator_adds_edits_and_deactivates_an_agency(client: TestClient) -> None:
    sign_in(client, Role.ADMIN)
    listing = client.get("/agencies")
    assert listing.status_code == 200 and "Partner agencies" in listing.text
    assert 'data-agency="sine-dourados"' in listing.text

    new = client.get("/agencies/new")
    assert new.status_code == 200
    # Errors come back next to their fields, with what was entered.
    refused = post(client, "/agencies/new", form(new.text, capacity="0", hours_tue="18:00-08:00",
                                                 categories=["mental_health"]))
    assert refused.status_code == 422
    assert 'id="capacity-error"' in refused.text and "at least 1 open referral" in refused.text
    assert 'id="opening_hours-tue-error"' in refused.text
    assert 'id="categories-error"' in refused.text
    assert 'value="CRAS Água Boa"' in refused.text

    created = post(client, "/agencies/new", form(new.text), follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == "/agencies/cras-agua-boa?done=created"
    page = client.get("/agencies/cras-agua-boa?done=created")
    assert page.status_code == 200 and "Agency added." in page.text
    assert version_of(page.text) == "1" and 'value="08:00-12:00, 13:00-17:00"' in page.text
    # A taken identifier: said next to it.
    taken = post(client, "/agencies/new", form(new.text, agency_id="cras-agua-boa"))
    assert taken.status_code == 409 and 'id="agency_id-error"' in taken.text

    saved = post(client, "/agencies/cras-agua-boa", [*form(page.text, capacity="20"), ("version", "1")],
                 follow_redirects=False)
    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert "Agency saved." in page.text and version_of(page.text) == "2" and 'value="20"' in page.text
    assert "Edited" in page.text  # the audit
    # The same form again, over version 1: someone else saved first.
    stale = post(client, "/agencies/cras-agua-boa", [*form(page.text, capacity="30"), ("version", "1")])
    assert stale.status_code == 409 and 'id="stale"' in stale.text and 'value="20"' in stale.text

    # Deactivating moves its referrals.
    service = client.app.state.service  # type: ignore[attr-defined]
    rid = client.portal.call(lambda: routed(service, ServiceArea.WORK, "job_placement",  # type: ignore[union-attr]
                                            case_id=unique("case")))
    sine = client.get(f"/agencies/{SINE}")
    done = client.post(f"/agencies/{SINE}/deactivate", data={"csrf_token": csrf(sine.text),
                                                             "version": version_of(sine.text)})
    assert done.status_code == 200 and "0 referral(s) went on to other agencies, 1 to manual routing" in done.text
    assert 'data-active="false"' in done.text and 'id="activate"' in done.text
    moved = client.portal.call(service.referrals.get, rid)  # type: ignore[union-attr]
    assert moved.status is ReferralStatus.NEEDS_MANUAL_ROUTING
    listing = client.get("/agencies")
    inactive = listing.text.split('id="inactive-title"')[1]
    assert 'data-agency="sine-dourados"' in inactive
    again = client.post(f"/agencies/{SINE}/activate", data={"csrf_token": csrf(done.text),
                                                            "version": version_of(done.text)})
    assert again.status_code == 200 and "Agency activated" in again.text and 'id="deactivate"' in again.text
    # A deactivation over a version seen before the activation: stale.
    stale = client.post(f"/agencies/{SINE}/deactivate", data={"csrf_token": csrf(sine.text),
                                                              "version": version_of(sine.text)})
    assert stale.status_code == 409 and 'id="stale"' in stale.text


def test_who_sees_the_directory_pages(client: TestClient) -> None:
    sign_in(client, Role.COORDINATOR)
    assert client.get("/agencies").status_code == 200
    page = client.get(f"/agencies/{SINE}")
    assert page.status_code == 200 and "<fieldset disabled" in page.text and 'id="deactivate"' not in page.text
    assert client.get("/agencies/new").status_code == 403
    assert client.post(f"/agencies/{SINE}/deactivate", data={"csrf_token": csrf(page.text),
                                                             "version": "1"}).status_code == 403
    assert client.get("/agencies/no-such-agency").status_code == 404
    sign_in(client, Role.STAFF)
    assert client.get("/agencies").status_code == 403
    sign_in(client, Role.AGENCY, agency_id=SINE)
    assert client.get(f"/agencies/{SINE}").status_code == 403
    client.cookies.clear()
    anonymous = client.get("/agencies", follow_redirects=False)
    assert anonymous.status_code == 303 and "/sign-in" in anonymous.headers["location"]


@pytest.mark.parametrize(("language", "words"), [("pt_BR", "Instituições parceiras"),
                                                 ("es", "Instituciones asociadas"),
                                                 ("fr", "Organismes partenaires"), ("ht", "Òganis patnè yo"),
                                                 ("en", "Partner agencies")])
def test_the_pages_speak_the_five_languages(client: TestClient, language: str, words: str) -> None:
    sign_in(client, Role.ADMIN)
    page = client.get("/agencies", params={"lang": language})
    assert page.status_code == 200 and words in page.text
    assert client.get(f"/agencies/{SINE}", params={"lang": language}).status_code == 200
    assert client.get("/agencies/new", params={"lang": language}).status_code == 200


def test_the_api(client: TestClient) -> None:
    body: dict[str, Any] = {"name": "Escola Estadual Vilmar Vieira", "type": "school", "areas": ["education"],
                            "categories": ["school_enrolment"], "languages": ["pt", "es"], "address": "Rua B",
                            "capacity": 30, "opening_hours": {"mon": ["07:00-11:30"]}}
    created = client.post("/api/agencies", json=body, headers=api(Role.ADMIN))
    assert created.status_code == 201, created.text
    agency = created.json()
    assert agency["agency_id"] == "escola-estadual-vilmar-vieira" and agency["version"] == 1
    assert agency["opening_hours"] == {"mon": ["07:00-11:30"]} and agency["audit"][0]["action"] == "created"
    agency_id = agency["agency_id"]

    bad = client.post("/api/agencies", json={**body, "capacity": 0}, headers=api(Role.ADMIN))
    assert bad.status_code == 422 and bad.json()["field"] == "capacity"
    bad = client.post("/api/agencies", json={**body, "type": "hospital", "languages": ["??"]},
                      headers=api(Role.ADMIN))
    assert bad.status_code == 422 and bad.json()["field"] == "type"
    assert {e["field"] for e in bad.json()["details"]["errors"]} == {"type", "languages"}
    bad = client.post("/api/agencies", json={**body, "capacity": "many"}, headers=api(Role.ADMIN))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "capacity"
    assert client.post("/api/agencies", json=body, headers=api(Role.STAFF)).status_code == 403
    assert client.post("/api/agencies", json=body, headers=api(Role.COORDINATOR)).status_code == 403

    edited = client.put(f"/api/agencies/{agency_id}", json={**body, "capacity": 35, "expected_version": 1},
                        headers=api(Role.ADMIN))
    assert edited.status_code == 200 and edited.json()["version"] == 2
    assert edited.json()["audit"][-1]["changes"] == {"capacity": {"from": 30, "to": 35}}
    stale = client.put(f"/api/agencies/{agency_id}", json={**body, "capacity": 40, "expected_version": 1},
                       headers=api(Role.ADMIN))
    assert stale.status_code == 409 and stale.json()["details"]["current_version"] == 2
    assert client.put(f"/api/agencies/{agency_id}", json={**body, "expected_version": 2},
                      headers=api(Role.COORDINATOR)).status_code == 403
    read = client.get(f"/api/agencies/{agency_id}", headers=api(Role.COORDINATOR))
    assert read.status_code == 200 and len(read.json()["audit"]) == 2
    assert client.get(f"/api/agencies/{agency_id}", headers=api(Role.STAFF)).status_code == 403

    off = client.post(f"/api/agencies/{agency_id}/deactivate", json={"expected_version": 2},
                      headers=api(Role.ADMIN))
    assert off.status_code == 200 and off.json()["active"] is False
    assert off.json()["rerouted"] == [] and off.json()["to_manual_routing"] == []
    # Repeated (a retry): harmless, even without a body.
    assert client.post(f"/api/agencies/{agency_id}/deactivate", headers=api(Role.ADMIN)).json()["version"] == 3
    on = client.post(f"/api/agencies/{agency_id}/activate", headers=api(Role.ADMIN))
    assert on.status_code == 200 and on.json()["active"] is True and on.json()["version"] == 4
    assert client.post("/api/agencies/no-such/deactivate", headers=api(Role.ADMIN)).status_code == 404
    listed = client.get("/api/agencies", headers=api(Role.STAFF)).json()["agencies"]
    assert agency_id in {a["agency_id"] for a in listed}
