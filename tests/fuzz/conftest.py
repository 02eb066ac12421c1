"""The fuzzed APIs run in a stack of their own (tests/support/stack.py, package-scoped here): what the fuzzer
writes never mixes with the figures the end-to-end tests count."""

from __future__ import annotations

from tests.support.stack import api_secret, services, stack_namespace, tokens, topics

__all__ = ["api_secret", "services", "stack_namespace", "tokens", "topics"]
