"""The session's real Kafka broker and store (`infra`) and a fresh `namespace` per test; defined in
tests/support/fixtures.py. `eventually` stays importable from here (`from tests.conftest import eventually`)."""

from __future__ import annotations

from tests.support.fixtures import infra, namespace
from tests.support.polling import eventually

__all__ = ["eventually", "infra", "namespace"]
