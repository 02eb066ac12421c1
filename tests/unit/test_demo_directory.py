"""The demo directory packaged with referral is one its administrators can edit: every agency passes the
directory's rules, so saving it unchanged from the page or the API is accepted."""

from __future__ import annotations

import pytest

from migradesk_referral.adapters.mappers import demo_directory
from migradesk_referral.domain.directory import check_details


@pytest.mark.parametrize("agency", demo_directory(), ids=lambda agency: agency.agency_id)
def test_every_demo_agency_passes_the_directorys_rules(agency) -> None:  # type: ignore[no-untyped-def]
    details = check_details(name=agency.name, type=agency.type, areas=[a.value for a in agency.areas],
                            categories=agency.categories, languages=agency.languages, address=agency.address,
                            capacity=agency.capacity)
    assert (details.name, details.type.value, details.capacity) == (agency.name, agency.type, agency.capacity)
