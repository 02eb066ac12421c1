"""`python -m migradesk_intake` serves intake; `python -m migradesk_intake create-admin --username NAME` creates
the first administrator of a deployment (who then creates the other accounts on the accounts page). The
password is asked for twice at a terminal, or read from the first line of standard input (for scripts).
`python -m migradesk_intake reindex` rebuilds the worklist, search and duplicate look-up indexes from the cases
and the persons, with intake's processes stopped (migradesk_intake.reindex)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from migradesk_intake.accounts import AccountService, CreateAccount
from migradesk_intake.adapters.accounts import MongoAccountRepository, MongoSessionRepository
from migradesk_intake.adapters.passwords import Argon2Passwords
from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role
from migradesk_shared.errors import MigraDeskError
from migradesk_shared.mongo import connect
from migradesk_shared.runtime import serve


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password for the new administrator: ")
    if getpass.getpass("The same password again: ") != password:
        raise SystemExit("the two passwords differ; nothing was created")
    return password


async def create_admin(settings: IntakeSettings, username: str, password: str) -> str:
    client = connect(settings.mongodb_uri, app_name="migradesk-intake-create-admin")
    try:
        db = client[settings.mongodb_database]
        accounts = AccountService(MongoAccountRepository(db), MongoSessionRepository(db), Argon2Passwords(),
                                  rules=settings.account_rules, session_rules=settings.session_rules)
        await accounts.accounts.ensure_indexes()
        # The person at the terminal chose this password: it is not a temporary one.
        account = await accounts.create_account(CreateAccount(
            username=username, role=Role.ADMIN, password=password, actor="system:command-line", address=None,
            temporary_password=False))
        return account.username
    finally:
        await client.close()


async def rebuild_indexes(settings: IntakeSettings) -> None:
    from migradesk_intake.reindex import reindex

    client = connect(settings.mongodb_uri, app_name="migradesk-intake-reindex")
    try:
        report = await reindex(client[settings.mongodb_database], progress=lambda line: print(line, flush=True))
    finally:
        await client.close()
    print(f"indexed {report.persons} people and {report.cases} cases in {report.seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m migradesk_intake", description="The intake service.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "create-admin", "reindex"],
                        help="serve (default), create an administrator account, or rebuild the desk's indexes "
                             "with the service's processes stopped")
    parser.add_argument("--username", help="create-admin: the new administrator's username")
    args = parser.parse_args()
    settings = IntakeSettings()  # fails fast on invalid settings
    if args.command == "create-admin":
        if not args.username:
            parser.error("create-admin needs --username")
        try:
            username = asyncio.run(create_admin(settings, args.username, read_password()))
        except MigraDeskError as exc:
            raise SystemExit(f"not created: {exc.message}") from None
        print(f"administrator {username} created; sign in at /sign-in")
        return
    if args.command == "reindex":
        asyncio.run(rebuild_indexes(settings))
        return
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
