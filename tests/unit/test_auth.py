from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from migradesk_shared.auth import Principal, Role, Unauthenticated, issue_token, read_token

SECRET = secrets.token_urlsafe(32)


def test_a_token_carries_who_and_which_role() -> None:
    principal = read_token(SECRET, issue_token(SECRET, subject="ana", role=Role.STAFF), service="intake")
    assert principal == Principal("ana", Role.STAFF)
    assert principal.actor == "staff:ana"
    agency = read_token(SECRET, issue_token(SECRET, subject="rita", role=Role.AGENCY, agency_id="cras-canaa"),
                        service="referral")
    assert agency.agency_id == "cras-canaa" and agency.actor == "agency:rita@cras-canaa"


def test_an_agency_token_must_name_its_agency() -> None:
    with pytest.raises(ValueError, match="must name its agency"):
        issue_token(SECRET, subject="rita", role=Role.AGENCY)


def test_expired_forged_and_foreign_tokens_are_refused_with_a_reason() -> None:
    old = issue_token(SECRET, subject="ana", role=Role.STAFF, now=datetime.now(UTC) - timedelta(days=2))
    with pytest.raises(Unauthenticated, match="expired"):
        read_token(SECRET, old, service="intake")
    with pytest.raises(Unauthenticated, match="not valid"):
        read_token(SECRET, issue_token(secrets.token_urlsafe(32), subject="ana", role=Role.STAFF), service="intake")
    with pytest.raises(Unauthenticated, match="not valid"):
        read_token(SECRET, "garbage", service="intake")
    assert Unauthenticated("x").status_code == 401


def test_a_token_opens_only_the_services_it_names() -> None:
    for_referral = issue_token(SECRET, subject="sistema-ubs", role=Role.AGENCY, agency_id="ubs-x",
                               services=("referral",))
    assert read_token(SECRET, for_referral, service="referral").agency_id == "ubs-x"
    for service in ("intake", "metrics"):
        with pytest.raises(Unauthenticated, match=f"not for the {service} service"):
            read_token(SECRET, for_referral, service=service)
    # A token without any audience (issued before audiences existed) opens nothing.
    bare = jwt.encode({"sub": "ana", "role": "staff", "iss": "migradesk",
                       "exp": datetime.now(UTC) + timedelta(hours=1)}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated, match="not for the intake service"):
        read_token(SECRET, bare, service="intake")
