"""Escalations people see: the notices an escalation stores with it (its agency's and the desk's), sent by a job
through a real SMTP server on a local socket (aiosmtpd) and marked sent, kept pending with the server's error
when it refuses or is down and sent later; the desk's worklist of overdue referrals (protection first) and of
those no agency took, over both backends; and its page, the agency's banner and the notices on a referral's page.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from infra.local.process import free_port
from migradesk_referral.adapters.memory import InMemoryReferralRepository
from migradesk_referral.bootstrap import create_app, notice_sender
from migradesk_referral.domain.directory import check_details
from migradesk_referral.domain.notifications import (
    NO_ADDRESS,
    NO_MAIL_SERVER,
    MailSetup,
    NoticeKind,
    NoticeStatus,
    Recipient,
)
from migradesk_referral.entrypoints.pages import inbox_pages
from migradesk_referral.service import EscalationsQuery, ReferralService
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.auth import Principal, Role, issue_token
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.errors import Forbidden
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import STAFF, Repository, agency, profile, routed, step, to_route, unique
from tests.service.referral.test_inbox_pages import ENGLISH, SETTINGS, Desk, csrf, desk, listed, version

__all__ = ["desk"]

ADMIN = Principal("alice", Role.ADMIN)
DESK_MAILBOX = "coordenacao@dourados.example"
AGENCY_MAILBOX = "recepcao@ubs.example"
PROTECTION, HEALTH, WORK = ServiceArea.PROTECTION, ServiceArea.HEALTH, ServiceArea.WORK
MAILING = MailSetup(mail_server=True, desk_address=DESK_MAILBOX)


# -- a real SMTP server on a local socket -----------------------------------------------------------------------

@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Mailbox:
    """What the SMTP server accepted; `refusing`: it answers every message with a temporary refusal."""

    received: list[Received] = field(default_factory=list)
    refusing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusing:
            return "451 4.3.0 mailbox busy, try again later"
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Mailbox(), free_port())
    server.start()
    yield server
    server.stop()


def mail_settings(port: int) -> ReferralSettings:
    return ReferralSettings(api_token_secret=secrets.token_urlsafe(32), smtp_host="127.0.0.1", smtp_port=port,
                            smtp_starttls=False, mail_from="migradesk@dourados.example",
                            desk_notification_email=DESK_MAILBOX, pages_base_url="https://migradesk.example")


def mailing_service(repository: Repository, port: int) -> ReferralService:
    return ReferralService(repository, mail=MAILING, sender=notice_sender(mail_settings(port), inbox_pages()))


async def give_mailbox(service: ReferralService, agency_id: str, address: str) -> None:
    """The administrator records the agency's address for escalations, through the directory's rules."""
    found = await service.agency_detail(agency_id, ADMIN)
    details = check_details(name=found.name, type=found.type, areas=[a.value for a in found.areas],
                            categories=found.categories, languages=found.languages, address=found.address,
                            capacity=found.capacity or 10, opening_hours=dict(found.opening_hours),
                            contact_email=address)
    await service.edit_agency(ADMIN, agency_id, details, expected_version=found.version)


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


# -- notices stored with the escalation -------------------------------------------------------------------------

async def test_an_escalation_stores_the_agencys_and_the_desks_notices_pending(repository: Repository) -> None:
    service = ReferralService(repository, mail=MAILING)
    rid = await routed(service, PROTECTION, "gender_violence")
    record = await repository.get(rid)
    assert record is not None and record.agency_id is not None and record.notices == ()
    await give_mailbox(service, record.agency_id, AGENCY_MAILBOX)
    assert await service.flag_overdue(datetime.now(UTC) + timedelta(hours=25)) == 1
    flagged = await repository.get(rid)
    assert flagged is not None and flagged.overdue
    assert [(n.kind, n.recipient, n.address, n.status) for n in flagged.notices] == [
        (NoticeKind.OVERDUE, Recipient.AGENCY, AGENCY_MAILBOX, NoticeStatus.PENDING),
        (NoticeKind.OVERDUE, Recipient.DESK, DESK_MAILBOX, NoticeStatus.PENDING)]
    assert all(n.deadline == flagged.response_due_at for n in flagged.notices)
    assert [r.referral_id for r in await repository.with_pending_notices(10)] == [rid]
    # Flagged once: a later check adds no notice.
    assert await service.flag_overdue(datetime.now(UTC) + timedelta(hours=26)) == 0
    again = await repository.get(rid)
    assert again is not None and len(again.notices) == 2


async def test_without_a_mail_server_or_an_address_the_notices_are_recorded_as_not_sent(
        repository: Repository) -> None:
    unconfigured = ReferralService(repository)
    rid = await routed(unconfigured, PROTECTION, "trafficking")
    assert await unconfigured.flag_overdue(datetime.now(UTC) + timedelta(hours=25)) == 1
    flagged = await repository.get(rid)
    assert flagged is not None
    assert {(n.status, n.error) for n in flagged.notices} == {(NoticeStatus.NOT_SENT, NO_MAIL_SERVER)}
    # A mail server, but the agency has no address for escalations: the desk's goes, the agency's cannot.
    configured = ReferralService(repository, mail=MAILING)
    other = await routed(configured, PROTECTION, "trafficking")
    await configured.flag_overdue(datetime.now(UTC) + timedelta(hours=25))
    record = await repository.get(other)
    assert record is not None
    assert [(n.recipient, n.status, n.error) for n in record.notices] == [
        (Recipient.AGENCY, NoticeStatus.NOT_SENT, NO_ADDRESS), (Recipient.DESK, NoticeStatus.PENDING, None)]
    assert [r.referral_id for r in await repository.with_pending_notices(10)] == [other]


async def test_a_request_no_agency_takes_tells_the_desk(repository: Repository) -> None:
    service = ReferralService(repository, mail=MAILING)
    rid = await routed(service, ServiceArea.SOCIAL_ASSISTANCE, "cadunico")
    for _ in range(2):  # the two CRAS decline: the request falls to manual routing
        record = await repository.get(rid)
        assert record is not None and record.agency_id is not None
        await service.act(step(rid, Action.DECLINE, by=agency(record.agency_id), reason="no_capacity"))
        await service.reroute_declined()
        declined = await repository.get(rid)
        assert declined is not None and declined.rerouted_to is not None
        rid = declined.rerouted_to
    manual = await repository.get(rid)
    assert manual is not None and manual.status.value == "needs_manual_routing"
    assert [(n.kind, n.recipient, n.address, n.status) for n in manual.notices] == [
        (NoticeKind.NEEDS_MANUAL_ROUTING, Recipient.DESK, DESK_MAILBOX, NoticeStatus.PENDING)]


# -- the worklist -----------------------------------------------------------------------------------------------

async def test_the_worklist_lists_protection_first_then_the_longest_overdue_and_the_manual_queue(
        repository: Repository) -> None:
    service = ReferralService(repository, mail=MAILING)
    now = datetime.now(UTC)
    work = await routed(service, WORK, "job_placement")
    health = await routed(service, HEALTH, "primary_care")
    protection = await routed(service, PROTECTION, "trafficking")
    answered = await routed(service, HEALTH, "primary_care")
    await service.act(step(answered, Action.ACCEPT))
    # Every CRAS declined it: no agency is left to take it.
    no_agency = await service.route(to_route(ServiceArea.SOCIAL_ASSISTANCE, "cadunico",
                                             declined_by=("cras-canaa", "cras-jardim-carisma")))
    # The job runs every minute and looks a week back: checks a few days apart find every deadline passed.
    assert sum([await service.flag_overdue(now + timedelta(days=days)) for days in (3, 6, 9, 12)]) == 3
    found = await service.escalations(EscalationsQuery(STAFF))
    health_due, work_due = [(await repository.get(r)).response_due_at for r in (health, work)]  # type: ignore[union-attr]
    assert health_due < work_due  # health answers in 27 working hours, work in 45
    assert [r.referral_id for r in found.overdue] == [protection, health, work]
    assert [r.referral_id for r in found.needs_manual_routing.referrals] == [no_agency]
    assert not found.has_next
    # A page at a time.
    first = await service.escalations(EscalationsQuery(STAFF, page=1, page_size=2))
    second = await service.escalations(EscalationsQuery(STAFF, page=2, page_size=2))
    assert ([r.referral_id for r in first.overdue], first.has_next) == ([protection, health], True)
    assert ([r.referral_id for r in second.overdue], second.has_next) == ([work], False)
    with pytest.raises(Forbidden):
        await service.escalations(EscalationsQuery(agency("ubs-jardim-climax")))


# -- sending through a real SMTP server -------------------------------------------------------------------------

async def test_pending_notices_are_sent_once_without_personal_data(repository: Repository,
                                                                   smtp: SmtpServer) -> None:
    service = mailing_service(repository, smtp.port)
    case_id = unique("case")
    rid = await routed(service, PROTECTION, "gender_violence", case_id=case_id)
    await service.keep_person_profile(profile(unique("person"), case_id, full_name="Rosa Xenia Quispe",
                                              phone="+5567999990000"))
    record = await repository.get(rid)
    assert record is not None and record.agency_id is not None
    await give_mailbox(service, record.agency_id, AGENCY_MAILBOX)
    later = datetime.now(UTC) + timedelta(hours=30)
    await service.flag_overdue(later)

    assert await service.send_notices(later) == 2
    received = smtp.mailbox.received
    assert sorted(r.recipients[0] for r in received) == sorted([AGENCY_MAILBOX, DESK_MAILBOX])
    assert {r.sender for r in received} == {"migradesk@dourados.example"}
    agency_name = (await repository.agency(record.agency_id)).name  # type: ignore[union-attr]
    for mail in received:
        text = body(mail.message)
        assert mail.message["Subject"].startswith("[MigraDesk] Encaminhamento aguardando além do prazo: Proteção")
        assert rid in text and agency_name in text
        assert f"https://migradesk.example/inbox/referrals/{rid}" in text
        # Nothing of the person: no name, no phone, no case.
        for personal in ("Rosa", "Quispe", "99999", case_id):
            assert personal not in text and personal not in str(mail.message)
    sent = await repository.get(rid)
    assert sent is not None and {n.status for n in sent.notices} == {NoticeStatus.SENT}
    assert all(n.sent_at is not None and n.attempts == 1 for n in sent.notices)
    assert await repository.with_pending_notices(10) == []
    # Sent once: the next round has nothing to send.
    assert await service.send_notices(later + timedelta(hours=2)) == 0
    assert len(smtp.mailbox.received) == 2


async def test_a_refused_notice_stays_pending_with_the_error_and_is_sent_later(repository: Repository,
                                                                              smtp: SmtpServer) -> None:
    service = mailing_service(repository, smtp.port)
    rid = await routed(service, PROTECTION, "trafficking")
    now = datetime.now(UTC) + timedelta(hours=30)
    await service.flag_overdue(now)  # the agency has no address: only the desk's is pending
    smtp.mailbox.refusing = True
    assert await service.send_notices(now) == 0
    record = await repository.get(rid)
    assert record is not None
    [desk_notice] = [n for n in record.notices if n.recipient is Recipient.DESK]
    assert desk_notice.status is NoticeStatus.PENDING and desk_notice.attempts == 1
    assert desk_notice.error is not None and "451" in desk_notice.error
    # Backing off: not tried again at once.
    smtp.mailbox.refusing = False
    assert await service.send_notices(now + timedelta(seconds=10)) == 0
    assert smtp.mailbox.received == []
    assert await service.send_notices(now + timedelta(minutes=2)) == 1
    assert [r.recipients for r in smtp.mailbox.received] == [[DESK_MAILBOX]]
    record = await repository.get(rid)
    assert record is not None
    [desk_notice] = [n for n in record.notices if n.recipient is Recipient.DESK]
    assert (desk_notice.status, desk_notice.attempts, desk_notice.error) == (NoticeStatus.SENT, 2, None)


async def test_a_notice_waits_while_the_mail_server_is_down(repository: Repository, smtp: SmtpServer) -> None:
    service = mailing_service(repository, smtp.port)
    smtp.stop()
    rid = await routed(service, PROTECTION, "child_protection")
    now = datetime.now(UTC) + timedelta(hours=30)
    await service.flag_overdue(now)
    assert await service.send_notices(now) == 0
    record = await repository.get(rid)
    assert record is not None
    pending = [n for n in record.notices if n.pending]
    assert len(pending) == 1 and pending[0].error is not None and pending[0].attempts == 1
    assert [r.referral_id for r in await repository.with_pending_notices(10)] == [rid]
    smtp.start()
    assert await service.send_notices(now + timedelta(hours=2)) == 1
    assert [r.recipients for r in smtp.mailbox.received] == [[DESK_MAILBOX]]
    assert await repository.with_pending_notices(10) == []


async def test_a_notice_another_process_holds_is_not_sent_twice(repository: Repository, smtp: SmtpServer) -> None:
    service = mailing_service(repository, smtp.port)
    rid = await routed(service, PROTECTION, "trafficking")
    now = datetime.now(UTC) + timedelta(hours=30)
    await service.flag_overdue(now)
    # Two processes' rounds at the same moment: each notice goes out once.
    sent = await asyncio.gather(service.send_notices(now), mailing_service(repository, smtp.port).send_notices(now))
    assert sum(sent) == 1 and len(smtp.mailbox.received) == 1
    record = await repository.get(rid)
    assert record is not None and [n.status for n in record.notices if n.recipient is Recipient.DESK] == [
        NoticeStatus.SENT]


# -- the pages --------------------------------------------------------------------------------------------------

def test_the_escalations_page_shows_who_was_written_to(desk: Desk) -> None:
    overdue = desk.routed(PROTECTION, "trafficking")
    desk.run(desk.service.flag_overdue, datetime.now(UTC) + timedelta(hours=30))
    desk.sign_in(Role.AGENCY, agency_id="ubs-jardim-climax")
    assert desk.client.get("/inbox/escalations").status_code == 403
    desk.sign_in(Role.COORDINATOR, subject="cora")
    page = desk.client.get("/inbox/escalations")
    assert page.status_code == 200 and "<h1>Escalations</h1>" in page.text
    assert listed(page.text) == [overdue]
    assert f'href="/inbox/referrals/{overdue}"' in page.text
    # No mail server in these settings: the notices are listed as not sent, saying why.
    assert "no mail server is configured" in page.text and 'data-status="not_sent"' in page.text
    api = desk.client.get("/api/referrals/escalations")
    assert api.status_code == 200
    assert [r["referral_id"] for r in api.json()["overdue"]] == [overdue]
    assert {n["recipient"] for n in api.json()["overdue"][0]["notices"].values()} == {"agency", "desk"}
    referral_page = desk.client.get(f"/inbox/referrals/{overdue}").text
    assert 'id="notices"' in referral_page and "The desk" in referral_page
    # In the other languages too.
    assert "Atrasos e pendências" in desk.client.get("/inbox/escalations", headers={"Accept-Language": "pt-BR"}).text


def test_an_agency_sees_a_banner_counting_its_overdue_referrals(desk: Desk) -> None:
    for _ in range(2):
        desk.routed(HEALTH, "primary_care")
    desk.sign_in(Role.AGENCY, agency_id="ubs-jardim-climax")
    assert 'id="overdue-banner"' not in desk.client.get("/inbox").text
    desk.run(desk.service.flag_overdue, datetime.now(UTC) + timedelta(days=30))
    page = desk.client.get("/inbox").text
    assert "Referrals of your agency waiting past their response deadline: 2." in page
    desk.sign_in(Role.AGENCY, agency_id="caps-ii-dourados")
    assert 'id="overdue-banner"' not in desk.client.get("/inbox").text


def test_the_slip_is_in_the_persons_language_with_what_to_bring(desk: Desk) -> None:
    case_id = unique("case")
    referral_id = desk.run(lambda: routed(desk.service, HEALTH, "primary_care", language="ht", case_id=case_id))
    desk.run(desk.service.keep_person_profile, profile(unique("person"), case_id, full_name="Jean Baptiste",
                                                       phone="+5567988887777"))
    desk.sign_in(Role.STAFF, subject="ana")
    page = desk.client.get(f"/inbox/referrals/{referral_id}/slip")
    assert page.status_code == 200
    # The page around it in the reader's language (English here), the slip in Haitian Creole.
    assert "<h1>Referral slip</h1>" in page.text and 'lang="ht"' in page.text
    assert "Sa pou w pote" in page.text and "Prèv adrès" in page.text and "UBS Jardim Clímax" in page.text
    assert referral_id in page.text and "Pou: Jean Baptiste" in page.text
    assert "+5567988887777" not in page.text and "@media print" in page.text
    # Another language on demand; the documents of the category.
    french = desk.client.get(f"/inbox/referrals/{referral_id}/slip", params={"language": "fr"}).text
    assert "apporter" in french and "Carte SUS" in french and 'data-document="sus_card"' in french
    # Printed by the desk and the referral's agency; another agency does not find it.
    desk.sign_in(Role.AGENCY, agency_id="caps-ii-dourados")
    assert desk.client.get(f"/inbox/referrals/{referral_id}/slip").status_code == 404
    desk.sign_in(Role.AGENCY, agency_id="ubs-jardim-climax")
    assert desk.client.get(f"/inbox/referrals/{referral_id}/slip").status_code == 200
    reads = desk.run(desk.repository.contact_reads, referral_id)
    assert [r.channel for r in reads] == ["slip", "slip", "slip"]


def test_an_agencys_address_for_escalations_is_checked(desk: Desk) -> None:
    token = issue_token(SETTINGS.api_token_secret, subject="alice", role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {token}", **ENGLISH}
    current = desk.client.get("/api/agencies/cras-canaa", headers=headers).json()
    edit = {k: current[k] for k in ("name", "type", "areas", "languages", "address", "capacity")}
    refused = desk.client.put("/api/agencies/cras-canaa", headers=headers,
                              json={**edit, "contact_email": "not an address",
                                    "expected_version": current["version"]})
    assert refused.status_code == 422 and refused.json()["field"] == "contact_email", refused.text
    saved = desk.client.put("/api/agencies/cras-canaa", headers=headers,
                            json={**edit, "contact_email": "cras@dourados.example",
                                  "expected_version": current["version"]})
    assert saved.status_code == 200 and saved.json()["contact_email"] == "cras@dourados.example"


def test_the_slips_and_the_mail_texts_are_in_every_language() -> None:
    create_app(SETTINGS, repository=InMemoryReferralRepository())  # the catalogs load
    pages = inbox_pages()
    for locale in ("pt_BR", "es", "fr", "ht"):
        _ = pages.gettext(locale)
        assert _("What to bring") != "What to bring", locale
        assert _("[MigraDesk] Referral no agency could take: %(area)s") != (
            "[MigraDesk] Referral no agency could take: %(area)s"), locale


def test_the_desk_routes_by_hand_from_the_page_what_no_agency_took(desk: Desk) -> None:
    manual = desk.run(lambda: desk.service.route(to_route(ServiceArea.SOCIAL_ASSISTANCE, "cadunico",
                                                          declined_by=("cras-canaa", "cras-jardim-carisma"))))
    path = f"/inbox/referrals/{manual}"
    desk.sign_in(Role.STAFF, subject="ana")
    assert f'href="{path}#route"' in desk.client.get("/inbox/escalations").text
    page = desk.client.get(path).text
    assert 'id="route"' in page and 'id="redirect"' not in page
    # Only the active agencies serving the request are offered (the two CRAS: the desk may overrule a decline).
    assert set(re.findall(r'<option value="([a-z0-9-]+)"', page)) == {"cras-canaa", "cras-jardim-carisma"}
    missing = desk.client.post(f"{path}/route", data={"csrf_token": csrf(page), "version": version(page),
                                                      "agency_id": "cras-canaa"})
    assert missing.status_code == 422 and 'id="route-reason-error"' in missing.text
    wrong = desk.client.post(f"{path}/route", data={"csrf_token": csrf(page), "version": version(page),
                                                    "agency_id": "ubs-jardim-climax", "reason": "ligação"})
    assert wrong.status_code == 422 and 'id="route-agency_id-error"' in wrong.text
    stale = desk.client.post(f"{path}/route", data={"csrf_token": csrf(page), "version": "99",
                                                    "agency_id": "cras-canaa", "reason": "vaga aberta"})
    assert stale.status_code == 409 and 'id="stale"' in stale.text
    assert desk.run(desk.repository.get, manual).status.value == "needs_manual_routing"
    routed_now = desk.client.post(f"{path}/route", data={"csrf_token": csrf(page), "version": version(page),
                                                         "agency_id": "cras-canaa", "reason": "vaga aberta"},
                                  follow_redirects=False)
    assert routed_now.status_code == 303 and routed_now.headers["location"] == f"{path}?done=route"
    assert "Referral routed: the agency has it now." in desk.client.get(routed_now.headers["location"]).text
    after = desk.run(desk.repository.get, manual)
    assert (after.status.value, after.agency_id) == ("pending", "cras-canaa")
    assert listed(desk.client.get("/inbox/escalations").text) == []


def test_the_desk_redirects_an_overdue_referral_and_an_agency_may_not(desk: Desk) -> None:
    overdue = desk.routed(HEALTH, "primary_care")
    desk.run(desk.service.flag_overdue, datetime.now(UTC) + timedelta(days=30))
    path = f"/inbox/referrals/{overdue}"
    desk.sign_in(Role.AGENCY, agency_id="ubs-jardim-climax")
    page = desk.client.get(path).text
    assert 'id="redirect"' not in page and 'id="route"' not in page
    refused = desk.client.post(f"{path}/redirect", data={"csrf_token": csrf(page), "version": version(page),
                                                         "agency_id": "ubs-vila-industrial", "reason": "x"})
    assert refused.status_code == 403
    desk.sign_in(Role.STAFF, subject="ana")
    page = desk.client.get(path).text
    assert 'id="redirect"' in page and '<option value="ubs-jardim-climax"' not in page
    moved = desk.client.post(f"{path}/redirect", data={"csrf_token": csrf(page), "version": version(page),
                                                       "agency_id": "ubs-vila-industrial",
                                                       "reason": "sem resposta há dias"}, follow_redirects=False)
    assert moved.status_code == 303
    after = desk.run(desk.repository.get, overdue)
    assert (after.agency_id, after.status.value, after.overdue) == ("ubs-vila-industrial", "pending", False)
    assert listed(desk.client.get("/inbox/escalations").text) == []
