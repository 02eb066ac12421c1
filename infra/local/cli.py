"""`python -m infra.local prepare|up|run` (what `make prepare`, `make up` and `make run` call).

  prepare  fetch the Kafka jars and build FerretDB, start nothing
  up       start Kafka and the store until Ctrl-C, printing their addresses
  run      start Kafka, the store and the three services with demo data until Ctrl-C, printing the sign-in
           address, the demo accounts and demo access tokens

Order of preference for each dependency:
  Kafka: KAFKA_BOOTSTRAP_SERVERS from the environment > a Docker engine (testcontainers) > a local KRaft broker
         run from the Apache Kafka jars that Maven fetches into .local/.
  Store: MONGODB_URI from the environment > a `mongod` on PATH > a Docker engine (testcontainers) > FerretDB v1
         (SQLite backend) built from the Go module proxy through infra/ferretdb/main.go.
Everything downloaded or built is kept under .local/ and reused on the next start; each component logs to
.local/logs/<name>.log.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from collections.abc import Sequence
from datetime import date

from infra.local.paths import LOG_DIR, RUN_DIR
from infra.local.process import InfraError, log
from infra.local.services import SERVICE_PORTS, ServiceProcess, running_services
from infra.local.stack import Infra, prepare, start_infra


class _StopRequested(Exception):
    pass


def _ignore_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_on_signals() -> None:
    # Ctrl-C and `kill` both end the run through the same clean-up path. The first signal starts it; later
    # ones (make forwards the signal its process group already got) must not interrupt it half-way, or
    # services would be left running without their broker and store. A run that ends for another reason (a
    # service died) ignores them during its clean-up too.
    def handler(signum: int, frame: object) -> None:
        _ignore_signals()
        raise _StopRequested

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _seed_demo_once(services: dict[str, ServiceProcess], staff_token: str) -> None:
    """Demo cases go into the dev store once; a marker next to its data remembers that."""
    seeded_marker = RUN_DIR / "dev" / "demo-cases-seeded"
    if not seeded_marker.exists():
        from infra.demo import seed_demo_cases

        log(f"registered {seed_demo_cases(services['intake'].url, staff_token)} demo cases")
        seeded_marker.write_text("demo cases were registered in this store\n")
    # A store seeded before the register existed gets its demo register once too.
    register_marker = RUN_DIR / "dev" / "demo-register-seeded"
    if not register_marker.exists():
        from infra.demo import seed_demo_register

        log(f"recorded {seed_demo_register(services['intake'].url, staff_token, date.today())} demo register records")
        register_marker.write_text("the demo governance register was recorded in this store\n")


def dashboard_env(ports: dict[str, int]) -> dict[str, str]:
    """Where intake sends a coordinator after signing in, and where the dashboard sends an anonymous browser to
    sign in: the services' addresses on this machine."""
    return {"INTAKE_COORDINATOR_HOME_URL": f"http://127.0.0.1:{ports['metrics']}/dashboard",
            "METRICS_ACCOUNTS_URL": f"http://127.0.0.1:{ports['intake']}"}


def _print_welcome(infra: Infra, services: dict[str, ServiceProcess], secret: str, staff: str) -> None:
    from infra.demo import demo_sign_ins
    from migradesk_shared.auth import Role, issue_token

    print("\nMigraDesk is running. Sign in to the desk at:\n", flush=True)
    print(f"    {services['intake'].url}/sign-in\n", flush=True)
    print("Demo accounts (development only), one per role:", flush=True)
    for role, username, password, agency in demo_sign_ins():
        print(f"  {role:<12} {username:<14} password {password}" + (f"   (agency {agency})" if agency else ""),
              flush=True)
    print("  The desk's pages are for staff and admin; admin also manages the accounts at /admin/accounts.",
          flush=True)
    print(f"  Coordinators land on the dashboard: {services['metrics'].url}/dashboard\n", flush=True)
    print("Demo access tokens for the APIs (Authorization: Bearer <token>, or 'Authorize' in /docs):",
          flush=True)
    print(f"  staff        {staff}", flush=True)
    print(f"  coordinator  {issue_token(secret, subject='coordenacao', role=Role.COORDINATOR)}", flush=True)
    agency = issue_token(secret, subject="recepcao", role=Role.AGENCY, agency_id="ubs-jardim-climax")
    print(f"  agency       {agency}   (UBS Jardim Clímax)\n", flush=True)
    print(f"  referral API  {services['referral'].url}/docs", flush=True)
    print(f"  metrics API   {services['metrics'].url}/docs", flush=True)
    print(f"  intake API    {services['intake'].url}/docs", flush=True)
    print(f"\nKafka {infra.bootstrap_servers}   store {infra.mongodb_uri}   logs {LOG_DIR}", flush=True)
    print("Press Ctrl-C to stop everything.\n", flush=True)


def run(args: argparse.Namespace) -> int:
    _stop_on_signals()
    infra: Infra | None = None
    try:
        infra = start_infra(run_name="dev")
        # A fresh secret per run unless one is given: the demo tokens below are valid for this run only.
        secret = os.environ.get("MIGRADESK_API_TOKEN_SECRET") or secrets.token_urlsafe(32)
        from infra.demo import DEMO_ACCOUNTS_ENV

        with running_services(infra, "migradesk", secret, ports=dict(SERVICE_PORTS),
                              extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true", **DEMO_ACCOUNTS_ENV,
                                         **dashboard_env(SERVICE_PORTS)}) as services:
            from migradesk_shared.auth import Role, issue_token

            try:
                staff = issue_token(secret, subject="ana", role=Role.STAFF)
                _seed_demo_once(services, staff)
                _print_welcome(infra, services, secret, staff)
                while True:
                    for service in services.values():
                        if service.process.poll() is not None:
                            raise InfraError(f"{service.name} exited with code {service.process.returncode}; "
                                             f"see {service.log_path}")
                    time.sleep(1)
            finally:
                _ignore_signals()  # the services are stopped next, then the broker and the store
    except _StopRequested:
        return 0
    finally:
        _ignore_signals()
        log("stopping...")
        if infra is not None:
            infra.stop()


def up(args: argparse.Namespace) -> int:
    """Kafka and the store only, for working on one service at a time."""
    _stop_on_signals()
    infra: Infra | None = None
    try:
        infra = start_infra(run_name="dev")
        print(f"KAFKA_BOOTSTRAP_SERVERS={infra.bootstrap_servers}\nMONGODB_URI={infra.mongodb_uri}", flush=True)
        while True:
            time.sleep(3600)
    except _StopRequested:
        return 0
    finally:
        _ignore_signals()
        if infra is not None:
            infra.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="fetch the Kafka jars and build FerretDB, start nothing")
    sub.add_parser("up", help="start Kafka and the store until Ctrl-C")
    sub.add_parser("run", help="start Kafka, the store and the three services until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare()
            return 0
        return {"up": up, "run": run}[args.command](args)
    except InfraError as exc:
        log(f"error: {exc}")
        return 1
