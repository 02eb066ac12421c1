"""The case page and the person's page over the in-memory repository: a signed-in staff member reads a case,
adds a note, plans a follow-up, adds a request, closes and reopens it; a close or a correction over a version
someone changed since comes back as 409 with what changed, and nothing of theirs is written."""

from __future__ import annotations

import html
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
from tests.service.intake.helpers import cheap_passwords
from tests.service.intake.test_http import PERSON, sign_in

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), municipality="Dourados-MS",
                          seed_demo_accounts=True)
API = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="bia", role=Role.STAFF)}
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def browser() -> Iterator[TestClient]:
    """A browser: the session cookie only (the API calls below send a bearer token of another staff member)."""
    app = create_app(SETTINGS, repository=InMemoryIntakeRepository(), passwords=cheap_passwords())
    with TestClient(app, headers=ENGLISH) as client:
        sign_in(client)
        yield client


def opened(browser: TestClient) -> dict[str, Any]:
    response = browser.post("/api/cases", headers=API, json={"person": PERSON, "requests": [
        {"category": "school_enrolment"}]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def version_in(page: str, form_action: str) -> str:
    form = page[page.index(f'action="{form_action}'):]
    found = re.search(r'name="version" value="(\d+)"', form)
    assert found is not None
    return found.group(1)


def test_a_case_is_worked_on_from_its_page(browser: TestClient) -> None:
    case = opened(browser)
    path = f"/cases/{case['case_id']}"
    page = browser.get(path)
    assert page.status_code == 200 and "Wilner Joseph" in page.text and "Open case" in page.text
    token = csrf(page.text)

    noted = browser.post(f"{path}/notes", data={"csrf_token": token, "text": "Brought the school records."},
                         follow_redirects=False)
    assert noted.status_code == 303 and noted.headers["location"].startswith(f"{path}?done=note")
    planned = browser.post(f"{path}/follow-ups", data={"csrf_token": token, "text": "Call the school",
                                                       "due_on": "2099-01-31"})
    assert planned.status_code == 200 and "Follow-up planned." in planned.text
    added = browser.post(f"{path}/requests", data={"csrf_token": token, "category": "sus_card"})
    assert "Request added" in added.text
    page = browser.get(path).text
    assert "Brought the school records." in page and "Call the school" in page
    assert page.count("data-referral=") == 0 and "being sent to an agency" in page
    for label in ("Case opened", "Note added", "Follow-up planned", "Request added"):
        assert label in page

    empty = browser.post(f"{path}/notes", data={"csrf_token": token, "text": "  "})
    assert empty.status_code == 422 and "Write the note." in empty.text
    past = browser.post(f"{path}/follow-ups", data={"csrf_token": token, "text": "x", "due_on": "2000-01-01"})
    assert past.status_code == 422 and "The due date cannot be in the past." in past.text

    closed = browser.post(f"{path}/close", data={"csrf_token": token, "outcome": "served",
                                                 "version": version_in(page, f"{path}/close")})
    assert closed.status_code == 200 and "Closed case" in closed.text and "Reopen the case" in closed.text
    reopened = browser.post(f"{path}/reopen", data={"csrf_token": token,
                                                    "version": version_in(closed.text, f"{path}/reopen")})
    assert "Open case" in reopened.text
    api = browser.get(f"/api/cases/{case['case_id']}", headers=API).json()
    assert [w["action"] for w in api["timeline"]] == ["case.open", "case.note", "case.follow_up", "case.request",
                                                      "case.close", "case.reopen"]
    # A form without its session's CSRF token is refused, and writes nothing.
    forged = browser.post(f"{path}/notes", data={"text": "forged"})
    assert forged.status_code == 403
    assert "forged" not in browser.get(path).text


def test_a_stale_close_shows_what_changed_and_writes_nothing(browser: TestClient) -> None:
    case = opened(browser)
    path = f"/cases/{case['case_id']}"
    page = browser.get(path).text
    shown = version_in(page, f"{path}/close")
    # Meanwhile a colleague adds a request.
    assert browser.post(f"/api/cases/{case['case_id']}/requests", headers=API,
                        json={"category": "sus_card"}).status_code == 201
    stale = browser.post(f"{path}/close", data={"csrf_token": csrf(page), "outcome": "served", "version": shown})
    assert stale.status_code == 409
    assert "Someone changed this case while you were looking at it" in stale.text and "Request added" in stale.text
    assert browser.get(f"/api/cases/{case['case_id']}", headers=API).json()["status"] == "open"


def test_a_stale_correction_keeps_the_entries_and_shows_what_is_recorded_now(browser: TestClient) -> None:
    case = opened(browser)
    person_path = f"/persons/{case['person_id']}"
    page = browser.get(person_path)
    assert page.status_code == 200 and 'value="Wilner Joseph"' in page.text
    token, shown = csrf(page.text), version_in(page.text, person_path)
    shown_values = re.search(r'name="shown" value="([^"]+)"', page.text)
    assert shown_values is not None
    # Meanwhile a colleague corrects the phone through the API, over the version it read.
    record = browser.get(f"/api/persons/{case['person_id']}", headers=API).json()
    fixed = {k: v for k, v in record["person"].items() if k not in {"consent", "consent_history"}}
    changed = browser.patch(f"/api/persons/{case['person_id']}", headers=API,
                            json={"version": record["version"], "person": {**fixed, "phone": "+5567911112222"}})
    assert changed.status_code == 200, changed.text
    form = {"csrf_token": token, "version": shown, "full_name": "Wilner Joseph Pierre", "birth_date": "1988-03-14",
            "sex": "male", "nationality": "HTI", "preferred_language": "ht", "languages": ["fr", "es"],
            "migratory_status": "acolhida_humanitaria", "phone": "+5567999990000",
            "document_type_0": "passport", "document_number_0": "HT1234567",
            "document_type_1": "cpf", "document_number_1": "52998224725",
            "shown": html.unescape(shown_values.group(1))}
    stale = browser.post(person_path, data=form)
    assert stale.status_code == 409
    assert "Someone changed this person&#39;s data while you were editing it" in stale.text
    assert 'value="Wilner Joseph Pierre"' in stale.text  # what they typed is kept
    assert "Recorded now: +5567911112222" in stale.text
    # The phone they did not touch now shows the colleague's: saving again does not undo it.
    assert 'value="+5567911112222"' in stale.text
    kept = browser.get(f"/api/persons/{case['person_id']}", headers=API).json()
    assert kept["person"]["full_name"] == "Wilner Joseph" and kept["version"] == 2
    # Saved again over the version the refusal showed, it goes through.
    shown_again = re.search(r'name="shown" value="([^"]+)"', stale.text)
    assert shown_again is not None
    saved = browser.post(person_path, data={**form, "phone": "+5567911112222", "csrf_token": csrf(stale.text),
                                            "version": version_in(stale.text, person_path),
                                            "shown": html.unescape(shown_again.group(1))})
    assert saved.status_code == 200 and "The person&#39;s data was saved." in saved.text
    after = browser.get(f"/api/persons/{case['person_id']}", headers=API).json()
    assert after["person"]["full_name"] == "Wilner Joseph Pierre" and after["version"] == 3
    assert after["person"]["phone"] == "+5567911112222"  # the colleague's change stands
    assert after["person"]["sensitive"] == PERSON["sensitive"]  # the page does not touch sensitive data
    bad = browser.post(person_path, data={**form, "csrf_token": csrf(stale.text), "version": "3",
                                          "document_type_0": "cpf", "document_number_0": "529.982.247-24"})
    assert bad.status_code == 422 and "its check digits do not match" in bad.text


def test_the_consent_is_changed_from_the_persons_page(browser: TestClient) -> None:
    case = opened(browser)
    person_path = f"/persons/{case['person_id']}"
    page = browser.get(person_path).text
    missing = browser.post(f"{person_path}/consent", data={"csrf_token": csrf(page), "legal_basis": "consent"})
    assert missing.status_code == 422 and "Choose one of the options." in missing.text
    done = browser.post(f"{person_path}/consent", data={"csrf_token": csrf(page), "legal_basis": "public_policy",
                                                        "share_with_partners": "no"})
    assert done.status_code == 200 and "The consent was recorded." in done.text
    record = browser.get(f"/api/persons/{case['person_id']}", headers=API).json()
    assert record["person"]["consent"]["share_with_partners"] is False
    assert record["person"]["consent"]["recorded_by"] == "ana"


def test_the_worklist_lists_filters_pages_and_finds_people(browser: TestClient) -> None:
    cases = [opened(browser) for _ in range(3)]
    other = browser.post("/api/cases", headers=API, json={"person": {**PERSON, "full_name": "María José Pérez",
                                                                       "documents": []},
                                                            "requests": [{"category": "sus_card"}]}).json()
    page = browser.get("/cases")
    assert page.status_code == 200 and "4 cases" in page.text
    assert all(f'data-case="{c["case_id"]}"' in page.text for c in [*cases, other])
    health = browser.get("/cases", params={"area": "health"}).text
    assert f'data-case="{other["case_id"]}"' in health and f'data-case="{cases[0]["case_id"]}"' not in health
    mine = browser.get("/cases", params={"staff": "bia"}).text  # the API's caller opened them
    assert "4 cases" in mine
    assert "0 cases" in browser.get("/cases", params={"staff": "ana"}).text
    bad = browser.get("/cases", params={"older_than_days": "soon"})
    assert bad.status_code == 422 and "Enter a whole number." in bad.text

    found = browser.get("/cases", params={"q": "maria jose peres"})
    assert found.status_code == 200 and f'data-person="{other["person_id"]}"' in found.text
    assert f'href="/cases/{other["case_id"]}"' in found.text and "The name sounds the same" in found.text
    assert "Nobody found" in browser.get("/cases", params={"q": "Zacarias Quintanilha"}).text


def test_the_worklist_and_search_apis_page_and_name_a_bad_parameter(browser: TestClient) -> None:
    cases = [opened(browser)["case_id"] for _ in range(3)]
    first = browser.get("/api/cases", headers=API, params={"page_size": 2}).json()
    assert [c["case_id"] for c in first["cases"]] == cases[:2] and first["total"] == 3 and first["next"]
    assert first["cases"][0]["full_name"] == "Wilner Joseph" and first["cases"][0]["service_areas"] == ["education"]
    rest = browser.get("/api/cases", headers=API, params={"page_size": 2, "after": first["next"]}).json()
    assert [c["case_id"] for c in rest["cases"]] == cases[2:] and rest["next"] is None
    newest = browser.get("/api/cases", headers=API, params={"order": "newest"}).json()
    assert [c["case_id"] for c in newest["cases"]] == cases[::-1]
    for params, field in (({"order": "sideways"}, "order"), ({"after": "garbage"}, "after"),
                          ({"status": "lost"}, "status"), ({"page_size": 0}, "page_size")):
        refused = browser.get("/api/cases", headers=API, params=params)
        assert refused.status_code == 422, params
        body = refused.json()
        assert body.get("field") == field or body["errors"][0]["field"] == field, body
    found = browser.get("/api/persons", headers=API, params={"q": "wilner josef"}).json()
    # Three visits registered as three people (nobody linked them): three found, one case each.
    assert [(p["full_name"], len(p["case_ids"])) for p in found["people"]] == [("Wilner Joseph", 1)] * 3
    assert browser.get("/api/persons", headers=API, params={"q": ""}).status_code == 422
