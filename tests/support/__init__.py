"""Test support built on infra.local: the session's broker and store (fixtures.py), a polling helper
(polling.py) and one running stack of the three services for the end-to-end tests (stack.py).

tests/conftest.py and tests/e2e/conftest.py import the fixtures from here, which registers them with pytest at
the same scope and visibility as if they were defined there."""
