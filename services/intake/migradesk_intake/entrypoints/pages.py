"""Intake's pages, rendered on the server in the language of the request: the desk (the sign-in pages and the
accounts page are in account_pages.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from migradesk_intake.domain.sensitive import HEALTH_NOTE_MAX, HealthFlag, SexualOrientation
from migradesk_intake.entrypoints.http import use_cases
from migradesk_intake.entrypoints.identity import signed_in
from migradesk_shared.auth import Role
from migradesk_shared.contracts.categories import Category
from migradesk_shared.contracts.vocabulary import DocumentType, GenderIdentity, LegalBasis, RaceColour, ServiceArea
from migradesk_shared.web.i18n import LOCALE_CODES, N_, language, supported_locale
from migradesk_shared.web.names import DESK_LANGUAGES, country_names, language_names
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
    "daycare": N_("Daycare / early childhood education place"),
    "housing": N_("Housing (housing programmes)"),
    "labour_exploitation": N_("Slave-like labour / labour exploitation"),
    "legal_aid": N_("Free legal aid (Public Defender's Office)"),
    "migratory_regularisation": N_("Migratory regularisation (residence authorisation, refuge)"),
    "family_reunification": N_("Family reunification"),
    "civil_registry": N_("Civil registry (birth, marriage, death certificates)"),
    "interpretation": N_("Interpreting / translation"),
}

# The person's documents, and what a number of each type looks like (shown as the field's example).
DOCUMENT_TYPES: dict[DocumentType, tuple[str, str]] = {
    DocumentType.CPF: (N_("CPF"), "000.000.000-00"),
    DocumentType.RNM: (N_("RNM / CRNM (National Migration Registry)"), "V123456-7"),
    DocumentType.REFUGEE_PROTOCOL: (N_("Refuge request protocol"), "08000.000000/2026-00"),
    DocumentType.RESIDENCE_PROTOCOL: (N_("Residence request protocol"), "08000.000000/2026-00"),
    DocumentType.PASSPORT: (N_("Passport"), "AB1234567"),
}

# What staff choose (the page's language) and what they read to the person (the person's language).
LEGAL_BASIS_LABELS: dict[LegalBasis, str] = {
    LegalBasis.CONSENT: N_("Consent of the person (LGPD art. 7 I; art. 11 I for sensitive data)"),
    LegalBasis.LEGAL_OBLIGATION: N_("Legal obligation (LGPD art. 7 II; art. 11 II a)"),
    LegalBasis.PUBLIC_POLICY: N_("Carrying out public policies (LGPD art. 7 III; art. 11 II b)"),
    LegalBasis.LIFE_PROTECTION: N_("Protection of life or physical safety (LGPD art. 7 VII; art. 11 II e)"),
}
LEGAL_BASIS_EXPLANATIONS: dict[LegalBasis, str] = {
    LegalBasis.CONSENT: N_(
        "You decide. We write down this information only because you agree. You can change your mind at any "
        "time: tell us, and we stop. Counted without your name, it also helps the city improve its services."),
    LegalBasis.LEGAL_OBLIGATION: N_(
        "A law requires the city to write down this information. We use it only for what that law asks. "
        "Counted without your name, it also helps the city improve its services."),
    LegalBasis.PUBLIC_POLICY: N_(
        "The city needs this information to give you access to its public services and programmes: health, "
        "school, social assistance, work. We use it only for that. Counted without your name, it also helps "
        "the city improve its services."),
    LegalBasis.LIFE_PROTECTION: N_(
        "We write down this information to protect your life or your safety, or someone else's. We use it only "
        "for that."),
}
# Also read to the person, in their language.
PERSON_NOTICES: dict[str, str] = {
    "sharing": N_(
        "If you say yes, the service that will help you (a health unit, a school, the CRAS...) receives your "
        "name, phone number, languages and date of birth, so that it can contact you. Your documents and the "
        "sensitive questions below are never sent. You can say no, and you can change your answer later."),
    "sensitive": N_(
        "The next questions are about your health, your colour or race, your gender identity and your sexual "
        "orientation. You do not have to answer. Answer only what you want us to write down."),
}

RACE_COLOUR_LABELS: dict[RaceColour, str] = {
    RaceColour.BRANCA: N_("White (branca)"),
    RaceColour.PRETA: N_("Black (preta)"),
    RaceColour.PARDA: N_("Brown / mixed (parda)"),
    RaceColour.AMARELA: N_("East Asian descent (amarela)"),
    RaceColour.INDIGENA: N_("Indigenous (indígena)"),
    RaceColour.PREFERS_NOT_TO_SAY: N_("Prefers not to say"),
}
GENDER_IDENTITY_LABELS: dict[GenderIdentity, str] = {
    GenderIdentity.CIS_WOMAN: N_("Cisgender woman"),
    GenderIdentity.CIS_MAN: N_("Cisgender man"),
    GenderIdentity.TRANS_WOMAN: N_("Trans woman"),
    GenderIdentity.TRANS_MAN: N_("Trans man"),
    GenderIdentity.NON_BINARY: N_("Non-binary person"),
    GenderIdentity.OTHER: N_("Another gender identity"),
    GenderIdentity.PREFERS_NOT_TO_SAY: N_("Prefers not to say"),
}
SEXUAL_ORIENTATION_LABELS: dict[SexualOrientation, str] = {
    SexualOrientation.HETEROSEXUAL: N_("Heterosexual"),
    SexualOrientation.LESBIAN: N_("Lesbian"),
    SexualOrientation.GAY: N_("Gay"),
    SexualOrientation.BISEXUAL: N_("Bisexual"),
    SexualOrientation.ASEXUAL: N_("Asexual"),
    SexualOrientation.PANSEXUAL: N_("Pansexual"),
    SexualOrientation.OTHER: N_("Another sexual orientation"),
}
HEALTH_FLAG_LABELS: dict[HealthFlag, str] = {
    HealthFlag.PREGNANT: N_("Pregnant"),
    HealthFlag.DISABILITY: N_("Disability"),
    HealthFlag.CHRONIC_CONDITION: N_("Chronic illness"),
    HealthFlag.CONTINUOUS_MEDICATION: N_("Takes medication continuously"),
    HealthFlag.MENTAL_HEALTH_SUPPORT: N_("Needs mental health support"),
}
# The countries most of the desk's people come from, offered first (DESIGN.md: Mato Grosso do Sul).
FREQUENT_NATIONALITIES: tuple[str, ...] = ("VEN", "PRY", "BOL", "HTI", "CUB", "COL", "ARG", "PER")


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


def read_aloud(pages: Pages) -> dict[str, Any]:
    """What staff read to the person, in each language of the catalogs (the person's may not be the page's):
    {locale: {"tag", "bases": {basis: text}, notice: text}}; and which catalog speaks each desk language."""
    texts = {}
    for locale in LOCALE_CODES:
        gettext = pages.gettext(locale)
        texts[locale] = {"tag": language(locale).tag,
                         "bases": {basis.value: gettext(text) for basis, text in LEGAL_BASIS_EXPLANATIONS.items()},
                         **{key: gettext(text) for key, text in PERSON_NOTICES.items()}}
    catalog_of = {code: found for code in DESK_LANGUAGES if (found := supported_locale(code))}
    return {"texts": texts, "locale_of_language": catalog_of}


def desk_context(pages: Pages, categories: list[Category]) -> dict[str, Any]:
    """What the desk form offers; labels are catalog messages the template translates, except the names of
    countries and languages, which come from CLDR in the page's language (`country_names(locale)`)."""
    return {
        "category_groups": category_groups(categories),
        "country_names": country_names,
        "language_names": language_names,
        "frequent_nationalities": FREQUENT_NATIONALITIES,
        "document_types": DOCUMENT_TYPES,
        "legal_bases": LEGAL_BASIS_LABELS,
        "race_colours": RACE_COLOUR_LABELS,
        "gender_identities": GENDER_IDENTITY_LABELS,
        "sexual_orientations": SEXUAL_ORIENTATION_LABELS,
        "health_flags": HEALTH_FLAG_LABELS,
        "health_note_max": HEALTH_NOTE_MAX,
        "read_aloud": read_aloud(pages),
    }


def desk_pages(account_language: AccountLanguage | None = session_language) -> Pages:
    """Intake's pages, in the signed-in person's language unless the request asks for another."""
    return Pages(templates=TEMPLATES, locale_dir=LOCALE_DIR, account_language=account_language)


def build_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def desk(request: Request, user: DeskUser) -> HTMLResponse:
        context = desk_context(pages, use_cases(request).categories())
        return await pages.render(request, "desk.html", {**context, "user": user})

    return router
