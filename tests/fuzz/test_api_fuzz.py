"""Every API fuzzed from its own OpenAPI document, against the running services (real broker and store):
generated requests, valid and not, as an administrator. No answer may be a 5xx, and every answer must be what
the document says (its status code listed, its content type and body as documented). The figures of each run
are printed (`-s`) for the record."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.services import ServiceProcess
from migradesk_shared.auth import Role
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Per operation; FUZZ_EXAMPLES raises it for a longer run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
SCHEMATHESIS = Path(sys.executable).with_name("st")


@pytest.mark.parametrize("service", ["intake", "referral", "metrics"])
def test_no_api_answers_a_5xx_or_off_its_document(services: dict[str, ServiceProcess], tokens: Tokens,
                                                  service: str) -> None:
    url = services[service].url
    token = tokens.headers(Role.ADMIN, subject="fuzzer")["Authorization"]
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", str(EXAMPLES),
         "--phases", "examples,coverage,fuzzing", "--workers", "2", "--seed", "20261124",
         "--header", f"Authorization: {token}", "--no-color"],
        capture_output=True, text=True, timeout=900, check=False)
    output = run.stdout + run.stderr
    summary = [line for line in output.splitlines()
               if re.search(r"(API Operations|Test Phases|Test cases|Failures|passed|failed|errors?)\b", line)]
    print(f"\n--- {service}: schemathesis exit {run.returncode}\n" + "\n".join(summary))
    assert run.returncode == 0, output[-20000:]
