"""The agencies' inbox pages over the in-memory repository: a signed-in agency sees only the referrals addressed to
it, most urgent first, opens one (the person's contact shown is an audited read), accepts, schedules and completes
it through the forms; a step over a version someone else acted on first comes back as 409 with the state now; a
refused step shows its error next to its field; the desk's decisions are not offered to an agency; an anonymous
browser is sent to intake's sign-in page and back."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from migradesk_referral.adapters.memory import InMemoryReferralRepository
from migradesk_referral.bootstrap import create_app
from migradesk_referral.service import ReferralService, urgency
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.auth import Role
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.topics import ServiceArea
from migradesk_shared.web.session import SESSION_COOKIE, PageUser, session_tokens
from tests.service.referral.helpers import agency, profile, routed, step, unique

SETTINGS = ReferralSettings(api_token_secret=secrets.token_urlsafe(32), seed_demo_agencies=True,
                            accounts_url="http://desk.example:8001")
ENGLISH = {"Accept-Language": "en"}
UBS = "ubs-jardim-climax"  # serves health in Spanish: a Spanish-speaker's primary care goes there
CAPS = "caps-ii-dourados"  # mental health


def session_cookie(role: Role, *, subject: str, agency_id: str | None = None) -> str:
    """What intake's sign-in sets: a session token signed with the deployment's secret."""
    now = datetime.now(UTC)
    user = PageUser(subject=subject, role=role, session_id=secrets.token_urlsafe(16),
                    expires_at=now + timedelta(minutes=15), agency_id=agency_id)
    return session_tokens(SETTINGS.api_token_secret).issue(user, now=now)


@dataclass
class Desk:
    client: TestClient
    repository: InMemoryReferralRepository

    @property
    def service(self) -> ReferralService:
        service: ReferralService = self.client.app.state.service  # type: ignore[attr-defined]
        return service

    def run(self, coroutine_function: Any, *args: Any) -> Any:
        return self.client.portal.call(coroutine_function, *args)  # type: ignore[union-attr]

    def routed(self, area: ServiceArea, category: str) -> str:
        case_id = unique("case")
        referral_id: str = self.run(lambda: routed(self.service, area, category, case_id=case_id))
        return referral_id

    def by_urgency(self, *referral_ids: str) -> list[str]:
        """The ids in the inbox's order (deadlines counted in working hours often tie: then by id)."""
        records = [self.run(self.repository.get, referral_id) for referral_id in referral_ids]
        return [r.referral_id for r in sorted(records, key=urgency)]

    def sign_in(self, role: Role, *, subject: str = "joana", agency_id: str | None = None) -> None:
        self.client.cookies.set(SESSION_COOKIE, session_cookie(role, subject=subject, agency_id=agency_id))


@pytest.fixture
def desk() -> Iterator[Desk]:
    repository = InMemoryReferralRepository()
    with TestClient(create_app(SETTINGS, repository=repository), headers=ENGLISH) as client:
        yield Desk(client, repository)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def version(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found is not None
    return found.group(1)


def listed(page: str) -> list[str]:
    return re.findall(r'<tr data-referral="([^"]+)"', page)


def test_an_agency_sees_only_its_referrals_most_urgent_first(desk: Desk) -> None:
    first = desk.routed(ServiceArea.HEALTH, "primary_care")
    second = desk.routed(ServiceArea.HEALTH, "primary_care")
    elsewhere = desk.routed(ServiceArea.HEALTH, "mental_health")
    assert desk.run(desk.repository.get, elsewhere).agency_id == CAPS
    desk.sign_in(Role.AGENCY, agency_id=UBS)

    page = desk.client.get("/inbox")
    assert page.status_code == 200 and "Referrals inbox" in page.text
    assert listed(page.text) == desk.by_urgency(first, second)  # the earlier deadline first
    assert "Primary care" in page.text and "Waiting for the agency" in page.text

    # Another agency's referral is not there, and asking for it is a 404, as the API answers.
    assert desk.client.get(f"/inbox/referrals/{elsewhere}").status_code == 404
    assert desk.client.get(f"/inbox/referrals/{first}").status_code == 200

    # An agency cannot look into another agency's inbox by naming it.
    assert listed(desk.client.get("/inbox", params={"agency": CAPS}).text) == desk.by_urgency(first, second)
    # Filters: a status, overdue only.
    assert listed(desk.client.get("/inbox", params={"status": "accepted"}).text) == []
    assert listed(desk.client.get("/inbox", params={"overdue": "1"}).text) == []
    assert desk.client.get("/inbox", params={"status": "nonsense"}).status_code == 422


def test_overdue_referrals_come_first(desk: Desk) -> None:
    early = desk.routed(ServiceArea.HEALTH, "primary_care")
    late = desk.routed(ServiceArea.HEALTH, "primary_care")
    flagged = desk.run(desk.service.flag_overdue, datetime.now(UTC) + timedelta(days=30))
    assert flagged == 2
    fresh = desk.routed(ServiceArea.HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, agency_id=UBS)
    page = desk.client.get("/inbox").text
    assert listed(page) == [*desk.by_urgency(early, late), fresh] and page.count(">Overdue<") == 2
    assert listed(desk.client.get("/inbox", params={"overdue": "1"}).text) == desk.by_urgency(early, late)


def test_the_inbox_pages_on(desk: Desk) -> None:
    ids = desk.by_urgency(*[desk.routed(ServiceArea.HEALTH, "primary_care") for _ in range(27)])
    desk.sign_in(Role.AGENCY, agency_id=UBS)
    first = desk.client.get("/inbox").text
    assert listed(first) == ids[:25] and 'rel="next"' in first
    second = desk.client.get("/inbox", params={"page": "2"}).text
    assert listed(second) == ids[25:] and 'rel="next"' not in second and 'rel="prev"' in second


def test_accept_schedule_and_complete_through_the_forms(desk: Desk) -> None:
    referral_id = desk.routed(ServiceArea.HEALTH, "primary_care")
    case_id = desk.run(desk.repository.get, referral_id).case_id
    desk.run(desk.service.keep_person_profile, profile("person-1", case_id, full_name="María Gómez"))
    desk.sign_in(Role.AGENCY, subject="joana", agency_id=UBS)
    path = f"/inbox/referrals/{referral_id}"

    page = desk.client.get(path).text
    assert "María Gómez" in page and "+5567999990000" in page and "Respond by" in page
    assert 'data-action="accept"' in page and 'data-action="decline"' in page
    assert 'name="reason"' in page and "No capacity to take it now" in page
    # The desk's decisions are not offered to an agency.
    assert 'data-action="cancel"' not in page and 'data-action="reopen"' not in page
    # Every page that showed the contact is in the access log.
    reads = desk.run(desk.repository.contact_reads, referral_id)
    assert [(r.channel, r.case_id) for r in reads] == [("page", case_id)] and "joana" in reads[0].actor

    accepted = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "accept",
                                                        "version": version(page)}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"{path}?done=accept"
    page = desk.client.get(accepted.headers["location"]).text
    assert "Referral accepted." in page and "Accepted by the agency" in page
    assert 'data-action="schedule"' in page and 'type="datetime-local"' in page

    when = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    scheduled = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "schedule",
                                                         "version": version(page), "scheduled_for": when})
    assert scheduled.status_code == 200 and "Appointment scheduled." in scheduled.text
    page = scheduled.text
    assert 'data-action="attend"' in page and 'data-action="no_show"' in page

    attended = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "attend",
                                                        "version": version(page)})
    page = attended.text
    assert "Attendance recorded." in page and 'data-action="complete"' in page

    # Completing needs an outcome: the error is next to its field, nothing is written.
    missing = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "complete",
                                                       "version": version(page)})
    assert missing.status_code == 422 and 'id="complete-outcome-error"' in missing.text
    assert "Choose the outcome." in missing.text
    assert desk.run(desk.repository.get, referral_id).status.value == "attended"

    completed = desk.client.post(f"{path}/actions", data={
        "csrf_token": csrf(page), "action": "complete", "version": version(page), "outcome": "got_help",
        "comment": "Seen by the nurse."})
    assert completed.status_code == 200 and "Referral completed." in completed.text
    assert "The person got the help they needed" in completed.text and "Seen by the nurse." in completed.text
    assert 'id="no-actions"' in completed.text
    stored = desk.run(desk.repository.get, referral_id)
    assert stored.status.value == "completed" and stored.state.outcome.value == "got_help"
    assert [h.action for h in stored.state.history[1:]] == [Action.ACCEPT, Action.SCHEDULE, Action.ATTEND,
                                                             Action.COMPLETE]
    assert all(h.actor == stored.state.history[1].actor for h in stored.state.history[1:])


def test_a_step_over_a_stale_version_shows_the_state_now(desk: Desk) -> None:
    referral_id = desk.routed(ServiceArea.HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, agency_id=UBS)
    path = f"/inbox/referrals/{referral_id}"
    page = desk.client.get(path).text
    # Someone else accepts it meanwhile (a colleague, the API).
    desk.run(desk.service.act, step(referral_id, Action.ACCEPT, by=agency(UBS)))

    stale = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "decline",
                                                     "version": version(page), "reason": "no_capacity"})
    assert stale.status_code == 409
    assert "Someone else acted on this referral first; here is its state now." in stale.text
    assert "Accepted by the agency" in stale.text and version(stale.text) == "2"
    assert desk.run(desk.repository.get, referral_id).status.value == "accepted"


def test_a_refused_step_shows_its_error_next_to_its_field(desk: Desk) -> None:
    referral_id = desk.routed(ServiceArea.HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, agency_id=UBS)
    path = f"/inbox/referrals/{referral_id}"
    page = desk.client.get(path).text
    no_reason = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "decline",
                                                         "version": version(page), "reason": ""})
    assert no_reason.status_code == 422 and 'id="decline-reason-error"' in no_reason.text
    assert "Choose why the referral is declined." in no_reason.text
    # A desk decision forged by an agency is refused, and nothing is written.
    cancel = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "cancel",
                                                      "version": version(page), "comment": "no"})
    assert cancel.status_code == 403 and "Your role does not take this step." in cancel.text
    # A step the state does not allow.
    attend = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "attend",
                                                      "version": version(page)})
    assert attend.status_code == 422 and "cannot be taken on the referral as it is now" in attend.text
    assert desk.run(desk.repository.get, referral_id).status.value == "pending"
    desk.run(desk.service.act, step(referral_id, Action.ACCEPT, by=agency(UBS)))
    page = desk.client.get(path).text
    past = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "schedule",
                                                    "version": version(page), "scheduled_for": "2000-01-01T10:00"})
    assert past.status_code == 422 and 'id="schedule-scheduled_for-error"' in past.text
    assert "The appointment cannot be in the past." in past.text
    assert 'value="2000-01-01T10:00"' in past.text  # what was typed stays
    assert desk.run(desk.repository.get, referral_id).status.value == "accepted"
    # Without the session's CSRF token: refused.
    forged = desk.client.post(f"{path}/actions", data={"action": "attend", "version": version(page)})
    assert forged.status_code == 403 and desk.run(desk.repository.get, referral_id).status.value == "accepted"


def test_the_desk_sees_every_agency_and_its_decisions(desk: Desk) -> None:
    ubs = desk.routed(ServiceArea.HEALTH, "primary_care")
    caps = desk.routed(ServiceArea.HEALTH, "mental_health")
    desk.sign_in(Role.STAFF, subject="ana")
    assert set(listed(desk.client.get("/inbox").text)) == {ubs, caps}
    page = desk.client.get(f"/inbox/referrals/{caps}").text
    assert 'data-action="cancel"' in page and 'data-action="accept"' in page
    assert 'id="no-person"' in page  # no profile shared for this case


def test_an_anonymous_browser_is_sent_to_sign_in_at_intake_and_back(desk: Desk) -> None:
    response = desk.client.get("/inbox?status=pending", follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://desk.example:8001/sign-in"
    assert parse_qs(location.query)["next"] == ["http://testserver/inbox?status=pending"]
    # A forged or foreign cookie is no session either.
    desk.client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert desk.client.get("/inbox", follow_redirects=False).status_code == 303


def test_the_pages_speak_the_languages_of_the_desk(desk: Desk) -> None:
    desk.routed(ServiceArea.HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, agency_id=UBS)
    for lang, title, status in [("pt-BR", "Encaminhamentos recebidos", "Aguardando a instituição"),
                                ("es", "Derivaciones recibidas", "En espera de la institución"),
                                ("fr", "Orientations reçues", "En attente de l&#39;organisme"),
                                ("ht", "Referans ou resevwa", "N ap tann òganis la")]:
        page = desk.client.get("/inbox", headers={"Accept-Language": lang})
        assert page.headers["content-language"] == lang and title in page.text, lang
        assert status in page.text, (lang, status)


def test_the_api_detail_view_audits_the_contact_read(desk: Desk) -> None:
    from migradesk_shared.auth import issue_token

    referral_id = desk.routed(ServiceArea.HEALTH, "primary_care")
    case_id = desk.run(desk.repository.get, referral_id).case_id
    desk.run(desk.service.keep_person_profile, profile("person-2", case_id))
    token = issue_token(SETTINGS.api_token_secret, subject="rita", role=Role.AGENCY, agency_id=UBS)
    response = desk.client.get(f"/api/referrals/{referral_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["person"]["full_name"] == "María Gómez"
    reads = desk.run(desk.repository.contact_reads, referral_id)
    assert [(r.channel, r.case_id) for r in reads] == [("api", case_id)] and "rita" in reads[0].actor


def test_why_an_agency_could_not_help_stays_in_the_history_never_in_the_events(desk: Desk) -> None:
    referral_id = desk.routed(ServiceArea.HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, subject="joana", agency_id=UBS)
    path = f"/inbox/referrals/{referral_id}"
    page = desk.client.get(path).text
    page = desk.client.post(f"{path}/actions", data={"csrf_token": csrf(page), "action": "accept",
                                                     "version": version(page)}).text
    why = "Ela precisa de um ginecologista e a UBS não tem " + "x" * 120  # longer than any reason code
    completed = desk.client.post(f"{path}/actions", data={
        "csrf_token": csrf(page), "action": "complete", "version": version(page), "outcome": "could_not_help",
        "reason": why})
    assert completed.status_code == 200 and "Referral completed." in completed.text
    stored = desk.run(desk.repository.get, referral_id)
    assert stored.state.outcome is not None and stored.state.outcome.value == "could_not_help"
    assert why in (stored.state.history[-1].comment or "")  # kept where the desk and the agency read it
    events = desk.run(desk.repository.stored_events, referral_id)
    assert "ginecologista" not in str(events)  # the de-identified events carry a code only
    [done] = [e.payload for e in events if e.event_type == "ReferralCompleted"]
    assert done is not None and done["could_not_help_reason"] == "described_in_comment"
