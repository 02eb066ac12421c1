"""The referral slip's data (what to bring, per category) and language, and the rules of the escalation notices:
pure, without infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migradesk_referral.domain.notifications import (
    NO_ADDRESS,
    NO_MAIL_SERVER,
    MailSetup,
    NoticeStatus,
    Recipient,
    failed,
    is_email_address,
    manual_routing_notices,
    overdue_notices,
    retry_delay,
    sent,
)
from migradesk_referral.domain.what_to_bring import BY_CATEGORY, DEFAULT, DOCUMENTS, IDENTITY, documents_for
from migradesk_referral.entrypoints.escalation_pages import slip_locale
from migradesk_shared.contracts.categories import CATEGORIES

AT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_every_category_an_agency_serves_has_its_list_of_documents() -> None:
    referable = {code for code, category in CATEGORIES.items() if category.area is not None}
    assert referable <= set(BY_CATEGORY)
    assert set(BY_CATEGORY) <= set(CATEGORIES)
    for code, documents in BY_CATEGORY.items():
        assert documents and set(documents) <= set(DOCUMENTS), code
        assert len(set(documents)) == len(documents), code
        assert documents[0] == IDENTITY, code  # every service first asks who the person is


def test_a_category_without_a_list_asks_for_the_common_documents() -> None:
    assert documents_for("a_category_added_later") == DEFAULT
    assert "school_records" in documents_for("school_enrolment")
    assert "work_card" in documents_for("job_placement")
    assert "sus_card" in documents_for("primary_care")


@pytest.mark.parametrize(("asked", "preferred", "page", "expected"), [
    (None, "ht", "en", "ht"),  # the person's language
    (None, "es", "pt_BR", "es"),
    (None, "gn", "es", "es"),  # Guarani: no pages in it, the page's language
    ("fr", "ht", "pt_BR", "fr"),  # chosen on the page
    ("xx", "ht", "pt_BR", "ht"),  # an unknown choice is ignored
    (None, "pt", "en", "pt_BR"),
])
def test_the_slip_is_in_the_persons_language_when_the_pages_have_it(asked: str | None, preferred: str, page: str,
                                                                    expected: str) -> None:
    assert slip_locale(asked, preferred, page) == expected


def test_an_escalation_writes_to_the_agency_and_the_desk_or_records_why_not() -> None:
    setup = MailSetup(mail_server=True, desk_address="desk@city.example")
    agency, desk = overdue_notices(agency_id="ubs", agency_address="ubs@city.example", deadline=AT, at=AT, setup=setup)
    assert (agency.recipient, agency.address, agency.status) == (Recipient.AGENCY, "ubs@city.example",
                                                                 NoticeStatus.PENDING)
    assert (desk.recipient, desk.address, desk.status) == (Recipient.DESK, "desk@city.example", NoticeStatus.PENDING)
    assert agency.notice_id != desk.notice_id
    no_address = overdue_notices(agency_id="ubs", agency_address="", deadline=AT, at=AT, setup=setup)[0]
    assert (no_address.status, no_address.error) == (NoticeStatus.NOT_SENT, NO_ADDRESS)
    unconfigured = overdue_notices(agency_id="ubs", agency_address="ubs@city.example", deadline=AT, at=AT,
                                   setup=MailSetup())
    assert {(n.status, n.error) for n in unconfigured} == {(NoticeStatus.NOT_SENT, NO_MAIL_SERVER)}
    [manual] = manual_routing_notices(at=AT, setup=setup)
    assert (manual.recipient, manual.status, manual.deadline) == (Recipient.DESK, NoticeStatus.PENDING, None)


def test_a_refused_notice_backs_off_up_to_an_hour_then_is_sent() -> None:
    [notice] = manual_routing_notices(at=AT, setup=MailSetup(mail_server=True, desk_address="desk@city.example"))
    assert [retry_delay(n) for n in (1, 2, 3, 7, 8, 30)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=60),
        timedelta(hours=1), timedelta(hours=1)]
    once = failed(notice, "451 busy " + "x" * 1000, AT)
    assert once.pending and once.attempts == 1 and once.not_before == AT + timedelta(minutes=1)
    assert once.error is not None and once.error.startswith("451 busy") and len(once.error) == 500
    twice = failed(once, "timed out", AT + timedelta(minutes=1))
    assert twice.attempts == 2 and twice.not_before == AT + timedelta(minutes=3)
    done = sent(twice, AT + timedelta(minutes=3))
    assert (done.status, done.attempts, done.error, done.sent_at) == (NoticeStatus.SENT, 3, None,
                                                                      AT + timedelta(minutes=3))


@pytest.mark.parametrize(("address", "valid"), [
    ("recepcao@ubs.dourados.ms.gov.br", True), ("a.b+c@x.example", True), ("", False), ("no-at.example", False),
    ("a@b", False), ("Ana <ana@x.example>", False), ("a b@x.example", False), ("a@-x.example", False),
])
def test_an_address_for_escalations_is_a_plain_mailbox(address: str, valid: bool) -> None:
    assert is_email_address(address) is valid
