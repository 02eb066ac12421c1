"""Who is calling: signed bearer tokens carrying a role (staff, agency, coordinator, admin) for machines, or a
signed-in browser's session (migradesk_shared.web.session) for the pages and the APIs they call.

Every service checks the same HS256 signature with the deployment's API token secret (pydantic-settings refuses
a placeholder secret outside development). An agency token is bound to one agency; the services use the
principal's subject as the "who" of their audit records, so the audit trail names an authenticated person.

A token names the services it is for (its audience, `aud`: `migradesk-intake`, `migradesk-referral`,
`migradesk-metrics`); a service refuses one that does not name it, so a token given to an agency's system for
referral's API does not open intake's.

Issue a token:  python -m migradesk_shared.auth --role staff --subject ana [--agency-id ubs-x] [--hours 12]
[--audience intake,referral] (the secret comes from MIGRADESK_API_TOKEN_SECRET, or --secret).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from migradesk_shared.contracts.vocabulary import Role
from migradesk_shared.errors import Forbidden, MigraDeskError
from migradesk_shared.settings import secret_text

__all__ = ["ALGORITHM", "ISSUER", "Principal", "Role", "Unauthenticated", "issue_token", "read_token", "requires"]

ALGORITHM = "HS256"
ISSUER = "migradesk"
SERVICES = ("intake", "referral", "metrics")


def audience_of(service: str) -> str:
    """How a token names a service among its audience."""
    return f"migradesk-{service}"


class Unauthenticated(MigraDeskError):
    status_code = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    agency_id: str | None = None

    @property
    def actor(self) -> str:
        """How audit records name the caller."""
        return f"{self.role.value}:{self.subject}" + (f"@{self.agency_id}" if self.agency_id else "")


def issue_token(secret: str | SecretStr, *, subject: str, role: Role, agency_id: str | None = None,
                ttl: timedelta = timedelta(hours=12), now: datetime | None = None,
                services: tuple[str, ...] = SERVICES) -> str:
    """A token for `services` (all three unless told): give a machine only the services it calls."""
    if role is Role.AGENCY and not agency_id:
        raise ValueError("an agency token must name its agency")
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "iss": ISSUER, "iat": issued,
                              "exp": issued + ttl, "aud": [audience_of(s) for s in services]}
    if agency_id:
        claims["agency_id"] = agency_id
    return jwt.encode(claims, secret_text(secret), algorithm=ALGORITHM)


def read_token(secret: str | SecretStr, token: str, *, service: str) -> Principal:
    """The principal of a token for `service`; Unauthenticated if it is not valid, or not for this service."""
    try:
        claims = jwt.decode(token, secret_text(secret), algorithms=[ALGORITHM], issuer=ISSUER,
                            audience=audience_of(service), options={"require": ["sub", "role", "exp", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired; sign in again", field="Authorization") from None
    except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as exc:
        raise Unauthenticated(f"the access token is not for the {service} service ({exc})",
                              field="Authorization") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the access token is not valid ({exc})", field="Authorization") from None
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Unauthenticated(f"unknown role {claims['role']!r} in the access token",
                              field="Authorization") from None
    if role is Role.AGENCY and not claims.get("agency_id"):
        raise Unauthenticated("an agency token must name its agency", field="Authorization")
    return Principal(subject=str(claims["sub"]), role=role, agency_id=claims.get("agency_id"))


# Declared as a security scheme so the OpenAPI pages offer "Authorize"; errors are ours (401 naming the header).
_bearer = HTTPBearer(auto_error=False, description="a MigraDesk access token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def requires(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency: the caller's principal, if its role is one of `roles` (401 / 403 otherwise).

    A machine sends a bearer token. A browser signed in to the pages sends its session cookie instead, and with
    any unsafe method (POST, DELETE...) the CSRF token of its session in the X-CSRF-Token header: a cookie goes
    with every request the browser makes, also those another site's page makes it send."""
    allowed = frozenset(roles)

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        if credentials is not None or "authorization" in request.headers:
            # An Authorization header decides, whatever cookie comes along.
            if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
                raise Unauthenticated("send an access token: Authorization: Bearer <token>", field="Authorization")
            settings = request.app.state.settings
            principal = read_token(settings.api_token_secret, credentials.credentials.strip(),
                                   service=settings.service_name)
        else:
            # Imported here: the session module builds on this one (roles, principals).
            from migradesk_shared.web.session import session_principal

            found = await session_principal(request)
            if found is None:
                raise Unauthenticated("sign in, or send an access token: Authorization: Bearer <token>",
                                      field="Authorization")
            principal = found
        if principal.role not in allowed:
            raise Forbidden(f"the {principal.role.value} role may not do this; allowed: "
                            f"{', '.join(sorted(r.value for r in allowed))}", field="Authorization")
        return principal

    return dependency


def main() -> None:
    parser = argparse.ArgumentParser(description="Issue a MigraDesk access token.")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--subject", required=True, help="who: a staff member's login, an agency user...")
    parser.add_argument("--agency-id", help="required for --role agency")
    parser.add_argument("--hours", type=float, default=12)
    parser.add_argument("--audience", default=",".join(SERVICES),
                        help=f"the services it is for, comma-separated (default: {','.join(SERVICES)})")
    parser.add_argument("--secret", default=os.environ.get("MIGRADESK_API_TOKEN_SECRET", ""))
    args = parser.parse_args()
    if not args.secret:
        parser.error("no secret: pass --secret or set MIGRADESK_API_TOKEN_SECRET")
    services = tuple(s.strip() for s in args.audience.split(",") if s.strip())
    if not services or set(services) - set(SERVICES):
        parser.error(f"--audience: name services among {', '.join(SERVICES)}")
    print(issue_token(args.secret, subject=args.subject, role=Role(args.role), agency_id=args.agency_id,
                      ttl=timedelta(hours=args.hours), services=services))


if __name__ == "__main__":
    main()
