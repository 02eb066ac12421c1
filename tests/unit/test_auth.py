from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from migradesk_shared.auth import Principal, Role, Unauthenticated, issue_token, read_token

SECRET = secrets.token_urlsafe(32)


def test_a_token_carries_who_and_which_role() -> None:
    principal = read_token(SECRET, issue_token(SECRET, subject="ana", role=Role.STAFF))
    assert principal == Principal("ana", Role.STAFF)
    assert principal.actor == "staff:ana"
    agency = read_token(SECRET, issue_token(SECRET, subject="rita", role=Role.AGENCY, agency_id="cras-canaa"))
    assert agency.agency_id == "cras-canaa" and agency.actor == "agency:rita@cras-canaa"


def test_an_agency_token_must_name_its_agency() -> None:
    with pytest.raises(ValueError, match="must name its agency"):
        issue_token(SECRET, subject="rita", role=Role.AGENCY)


def test_expired_forged_and_foreign_tokens_are_refused_with_a_reason() -> None:
    old = issue_token(SECRET, subject="ana", role=Role.STAFF, now=datetime.now(UTC) - timedelta(days=2))
    with pytest.raises(Unauthenticated, match="expired"):
        read_token(SECRET, old)
    with pytest.raises(Unauthenticated, match="not valid"):
        read_token(SECRET, issue_token(secrets.token_urlsafe(32), subject="ana", role=Role.STAFF))
    with pytest.raises(Unauthenticated, match="not valid"):
        read_token(SECRET, "garbage")
    assert Unauthenticated("x").status_code == 401
