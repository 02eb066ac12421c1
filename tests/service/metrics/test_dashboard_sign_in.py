"""Signing in on intake's page sends a coordinator to metrics' dashboard when no page asked to be returned to
(intake's `coordinator_home_url`), as it sends an agency to referral's inbox; the desk's pages are not theirs."""

from __future__ import annotations

from migradesk_intake.adapters.accounts_memory import InMemoryAccountRepository, InMemorySessionRepository
from migradesk_intake.settings import IntakeSettings
from tests.service.intake.test_sign_in_http import SETTINGS, Desk, client_for


def test_a_coordinator_lands_on_the_dashboard() -> None:
    stores = (InMemoryAccountRepository(), InMemorySessionRepository())
    assert IntakeSettings.model_fields["coordinator_home_url"].default == "http://127.0.0.1:8003/dashboard"
    with client_for(SETTINGS, stores) as client:
        desk = Desk(client)
        assert desk.sign_in("coordenacao").headers["location"] == SETTINGS.coordinator_home_url
        # Signed in already: the sign-in page sends them on there too.
        assert client.get("/sign-in", follow_redirects=False).headers["location"] == SETTINGS.coordinator_home_url
        client.cookies.clear()
        # Sent from a page (a dimension of the dashboard, say): back there.
        assert desk.sign_in("coordenacao", next_url="http://127.0.0.1:8003/dashboard/dimensions/6").headers[
            "location"] == "http://127.0.0.1:8003/dashboard/dimensions/6"
        client.cookies.clear()
        # The administrator keeps the desk's home (the accounts are there).
        assert desk.sign_in("admin").headers["location"] == "/"
    # Where the services share one host, the dashboard is a path of it; empty: the desk's home.
    for home, expected in (("/dashboard", "/dashboard"), ("", "/")):
        with client_for(SETTINGS.model_copy(update={"coordinator_home_url": home}), stores) as client:
            assert Desk(client).sign_in("coordenacao").headers["location"] == expected
