"""One running stack shared by the end-to-end test modules; defined in tests/support/stack.py. Importing the
fixtures here scopes them to this package. `Tokens` stays importable from here."""

from __future__ import annotations

from tests.support.stack import Tokens, api_secret, services, stack_namespace, tokens, topics

__all__ = ["Tokens", "api_secret", "services", "stack_namespace", "tokens", "topics"]
