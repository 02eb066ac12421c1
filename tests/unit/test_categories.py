"""The one category table: every category the desk offers is either resolved at the desk or routable to a partner
agency of its area (here, of the Dourados directory referral ships for demos and tests)."""

from __future__ import annotations

import pytest

from migradesk_referral.adapters.mappers import demo_directory
from migradesk_referral.domain.routing import choose_agency
from migradesk_shared.contracts.categories import CATEGORIES, area_of
from migradesk_shared.contracts.vocabulary import ServiceArea


def test_the_categories_municipal_programmes_name_are_in_the_table() -> None:
    assert area_of("housing") is ServiceArea.SOCIAL_ASSISTANCE  # no housing area: through CadÚnico and the CRAS
    assert area_of("daycare") is ServiceArea.EDUCATION
    assert area_of("legal_aid") is ServiceArea.PROTECTION and area_of("labour_exploitation") is ServiceArea.PROTECTION
    for desk in ("migratory_regularisation", "family_reunification", "civil_registry", "interpretation"):
        assert area_of(desk) is None
    assert {"portuguese_course", "cadunico", "documentation"} <= set(CATEGORIES)
    assert all(c.label_pt for c in CATEGORIES.values())


@pytest.mark.parametrize("code", sorted(c.code for c in CATEGORIES.values() if c.area is not None))
def test_every_area_bound_category_reaches_an_agency_of_the_demo_directory(code: str) -> None:
    area = area_of(code)
    assert area is not None
    agencies = [agency.candidate() for agency in demo_directory()]
    decision = choose_agency(area, "es", agencies, category=code)
    assert not decision.needs_manual_routing, decision.reason
