"""Intake's pages, rendered on the server in the language of the request: the desk (the sign-in pages and the
accounts page are in account_pages.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from migradesk_intake.entrypoints.http import use_cases
from migradesk_intake.entrypoints.identity import signed_in
from migradesk_shared.auth import Role
from migradesk_shared.contracts.categories import Category
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.session import PageUser, session_language
from migradesk_shared.web.templates import AccountLanguage, Pages

DeskUser = Annotated[PageUser, Depends(signed_in(Role.STAFF, Role.ADMIN))]

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
LOCALE_DIR = PACKAGE / "locale"

AREA_LABELS: dict[ServiceArea | None, str] = {
    ServiceArea.HEALTH: N_("Health"),
    ServiceArea.EDUCATION: N_("Education"),
    ServiceArea.SOCIAL_ASSISTANCE: N_("Social assistance"),
    ServiceArea.WORK: N_("Work"),
    ServiceArea.PROTECTION: N_("Protection"),
    None: N_("Resolved at the desk"),
}

# The desk's names of the request categories (shared/…/contracts/categories.py holds the table and the Portuguese
# label the API gives); a category added there without a name here shows that Portuguese label.
CATEGORY_LABELS: dict[str, str] = {
    "sus_card": N_("SUS card (Cartão SUS)"),
    "primary_care": N_("Primary care"),
    "mental_health": N_("Mental health"),
    "maternal_care": N_("Maternal care / prenatal care"),
    "vaccination": N_("Vaccination"),
    "school_enrolment": N_("School enrolment"),
    "portuguese_course": N_("Portuguese course"),
    "diploma_revalidation": N_("Diploma revalidation"),
    "adult_education": N_("Youth and adult education (EJA)"),
    "cadunico": N_("Cadastro Único (social programmes register)"),
    "bolsa_familia": N_("Bolsa Família (family allowance)"),
    "bpc": N_("Continuous cash benefit (BPC)"),
    "shelter": N_("Shelter"),
    "food_support": N_("Food support"),
    "rent_support": N_("Rent support"),
    "job_placement": N_("Job placement"),
    "ctps_digital": N_("Digital work card (CTPS Digital)"),
    "vocational_training": N_("Vocational training"),
    "mei": N_("Individual micro-entrepreneur (MEI)"),
    "gender_violence": N_("Gender-based violence"),
    "lgbtqia_phobia": N_("LGBTQIA+phobia"),
    "racism_xenophobia": N_("Racism / xenophobia"),
    "trafficking": N_("Human trafficking"),
    "child_protection": N_("Protection of children and adolescents"),
    "documentation": N_("Documents (CPF, RNM/CRNM, protocol)"),
    "legal_orientation": N_("Legal / migration guidance"),
}


@dataclass(frozen=True)
class CategoryOption:
    code: str
    label: str  # a message of the catalog, translated by the template


@dataclass(frozen=True)
class CategoryGroup:
    area: str  # a message of the catalog, translated by the template
    options: list[CategoryOption]


def category_groups(categories: list[Category]) -> list[CategoryGroup]:
    """The categories by service area, in the table's order, those resolved at the desk last."""
    by_area: dict[ServiceArea | None, list[CategoryOption]] = {}
    for c in sorted(categories, key=lambda c: c.area is None):
        by_area.setdefault(c.area, []).append(CategoryOption(c.code, CATEGORY_LABELS.get(c.code, c.label_pt)))
    return [CategoryGroup(AREA_LABELS[area], options) for area, options in by_area.items()]


def desk_pages(account_language: AccountLanguage | None = session_language) -> Pages:
    """Intake's pages, in the signed-in person's language unless the request asks for another."""
    return Pages(templates=TEMPLATES, locale_dir=LOCALE_DIR, account_language=account_language)


def build_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def desk(request: Request, user: DeskUser) -> HTMLResponse:
        groups = category_groups(use_cases(request).categories())
        return await pages.render(request, "desk.html", {"category_groups": groups, "user": user})

    return router
