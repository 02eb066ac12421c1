"""The registration form's rules, pure: document formats, phone numbers, sensitive data and the facets it may
give statistics, countries and languages by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migradesk_intake.domain.contact import PhoneFormatError, normalise_phone
from migradesk_intake.domain.documents import (
    DocumentFormatError,
    cpf_check_digits,
    normalise_cpf,
    normalise_document,
    normalise_passport,
    normalise_protocol,
    normalise_rnm,
)
from migradesk_intake.domain.sensitive import (
    STATISTICAL_BASES,
    Declared,
    HealthFlag,
    HealthInformation,
    SensitiveData,
    SensitiveFacets,
    SexualOrientation,
    SexualOrientationDeclared,
    statistical_facets,
)
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import DocumentType, GenderIdentity, LegalBasis, RaceColour
from migradesk_shared.web.names import (
    ALPHA2_OF,
    ALPHA3_OF,
    DESK_LANGUAGES,
    country_name,
    country_names,
    is_country_code,
    is_language_code,
    language_names,
)

# --- documents ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["529.982.247-25", "52998224725", " 529 982 247 25 ", "111.444.777-35"])
def test_a_valid_cpf_is_stored_as_its_eleven_digits(typed: str) -> None:
    assert normalise_cpf(typed) == typed.replace(".", "").replace("-", "").replace(" ", "")


@pytest.mark.parametrize(("typed", "kind"), [
    ("529.982.247-24", "cpf_check_digits"),  # second check digit off by one
    ("529.982.247-35", "cpf_check_digits"),  # first check digit wrong
    ("111.111.111-11", "cpf_check_digits"),  # the arithmetic holds, but equal digits are never issued
    ("000.000.000-00", "cpf_check_digits"),
    ("529.982.247-2", "cpf_format"),  # ten digits
    ("5299822472555", "cpf_format"),
    ("529.982.247-2X", "cpf_format"),
])
def test_a_cpf_with_wrong_check_digits_or_length_is_refused_saying_which(typed: str, kind: str) -> None:
    with pytest.raises(DocumentFormatError) as refused:
        normalise_cpf(typed)
    assert refused.value.kind == kind


@given(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda d: len(set(d)) > 1),
       st.integers(min_value=1, max_value=9))
def test_the_receita_federal_check_digits_accept_a_cpf_and_refuse_any_change_to_them(first: str, shift: int) -> None:
    digits = cpf_check_digits(first)
    assert normalise_cpf(first + digits) == first + digits
    wrong = f"{digits[0]}{(int(digits[1]) + shift) % 10}"
    with pytest.raises(DocumentFormatError, match="check digits"):
        normalise_cpf(first + wrong)


def test_a_check_digit_is_zero_where_the_remainder_is_below_two() -> None:
    # 100000001: 1*10 + 1*2 = 12, remainder 1, so 0; then 1*11 + 1*3 + 0*2 = 14, remainder 3, so 8.
    assert cpf_check_digits("100000001") == "08"


@pytest.mark.parametrize(("typed", "stored"), [
    ("V123456-7", "V123456-7"), ("v1234567", "V123456-7"), ("G 383628-Y", "G383628-Y"), ("F1A2B3C-K", "F1A2B3C-K"),
])
def test_an_rnm_is_a_letter_six_characters_and_a_check_character(typed: str, stored: str) -> None:
    assert normalise_rnm(typed) == stored


@pytest.mark.parametrize("typed", ["1234567-8", "V12345-6", "V1234567-89", "VV", "V123456_7", "V123456--7"])
def test_an_rnm_of_another_shape_is_refused(typed: str) -> None:
    with pytest.raises(DocumentFormatError) as refused:
        normalise_rnm(typed)
    assert refused.value.kind == "rnm_format"


def test_protocols_and_passports_are_checked_for_their_shape() -> None:
    assert normalise_protocol("08505.012345/2019-11") == "08505.012345/2019-11"
    assert normalise_protocol(" 2026 000123 ") == "2026000123"
    for bad in ("12345", "ABC-DEF-GHI", "12.34/5", "123456..//", "0850501234520191112345678901234"):
        with pytest.raises(DocumentFormatError, match="protocol"):
            normalise_protocol(bad)
    assert normalise_passport("ab 123-4567") == "AB1234567"
    for bad in ("AB1", "AB12345678901234567890X", "AB12#45"):
        with pytest.raises(DocumentFormatError) as refused:
            normalise_passport(bad)
        assert refused.value.kind == "passport_format"


def test_every_document_type_has_its_format() -> None:
    examples = {DocumentType.CPF: "529.982.247-25", DocumentType.RNM: "V123456-7",
                DocumentType.REFUGEE_PROTOCOL: "08505.012345/2019-11",
                DocumentType.RESIDENCE_PROTOCOL: "08505.012345/2019-11", DocumentType.PASSPORT: "P1234567"}
    assert set(examples) == set(DocumentType)
    for document_type, number in examples.items():
        assert normalise_document(document_type, f" {number} ")


# --- phone ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [
    ("(67) 99999-0000", "+5567999990000"),  # a mobile, without the country code
    ("67 3411-1234", "+556734111234"),  # a landline
    ("067 99999 0000", "+5567999990000"),  # with the national trunk prefix
    ("+55 67 99999-0000", "+5567999990000"),
    ("0055 67 99999 0000", "+5567999990000"),
    ("+58 412-555-0101", "+584125550101"),  # Venezuela
    ("00 509 3456 7890", "+50934567890"),  # Haiti
    ("+595 981 123456", "+595981123456"),  # Paraguay
])
def test_a_plausible_phone_is_kept_in_e164(typed: str, stored: str) -> None:
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", [
    "99999-0000",  # no area code
    "(10) 99999-0000",  # no such area code
    "(67) 89999-0000",  # 9 digits not starting with 9
    "(67) 8999-0000",  # 8 digits: a mobile without its 9
    "+55 67 9999",
    "+0 123 456 789",  # no country code starts with 0
    "+1234567",  # too short for any country
    "+1234567890123456",  # longer than E.164 allows
    "call me: 67 99999 0000",
])
def test_an_implausible_phone_is_refused(typed: str) -> None:
    with pytest.raises(PhoneFormatError) as refused:
        normalise_phone(typed)
    assert refused.value.kind == "phone_format"


# --- sensitive data -------------------------------------------------------------------------------------------

CONSENT, OBLIGATION, POLICY, LIFE = (LegalBasis.CONSENT, LegalBasis.LEGAL_OBLIGATION, LegalBasis.PUBLIC_POLICY,
                                     LegalBasis.LIFE_PROTECTION)


def test_nothing_declared_is_unknown_to_statistics() -> None:
    assert statistical_facets(SensitiveData()) == SensitiveFacets("unknown", "unknown", "unknown")


def test_only_a_basis_that_allows_statistics_lets_a_value_reach_the_facets() -> None:
    assert STATISTICAL_BASES == {CONSENT, OBLIGATION, POLICY}
    for basis in (CONSENT, OBLIGATION, POLICY):
        facets = statistical_facets(SensitiveData(race_colour=Declared(RaceColour.PRETA, basis),
                                                  gender_identity=Declared(GenderIdentity.TRANS_WOMAN, basis)))
        assert facets == SensitiveFacets("preta", "trans_woman", "yes")
    # Recorded to protect a life: it serves that purpose only.
    protected = SensitiveData(race_colour=Declared(RaceColour.PRETA, LIFE),
                              gender_identity=Declared(GenderIdentity.TRANS_WOMAN, LIFE),
                              sexual_orientation=SexualOrientationDeclared(SexualOrientation.LESBIAN, LIFE,
                                                                           at_persons_request=True))
    assert statistical_facets(protected) == SensitiveFacets()


@pytest.mark.parametrize(("gender", "orientation", "expected"), [
    (GenderIdentity.CIS_WOMAN, SexualOrientation.HETEROSEXUAL, "no"),
    (GenderIdentity.CIS_MAN, SexualOrientation.GAY, "yes"),
    (GenderIdentity.NON_BINARY, None, "yes"),
    (GenderIdentity.TRANS_MAN, SexualOrientation.HETEROSEXUAL, "yes"),
    (GenderIdentity.CIS_WOMAN, None, "unknown"),  # cis says nothing of the orientation
    (None, SexualOrientation.HETEROSEXUAL, "unknown"),  # nor heterosexual of the gender identity
    (None, SexualOrientation.BISEXUAL, "yes"),
    (GenderIdentity.OTHER, SexualOrientation.OTHER, "unknown"),
    (GenderIdentity.PREFERS_NOT_TO_SAY, SexualOrientation.HETEROSEXUAL, "unknown"),
])
def test_the_lgbtqia_facet(gender: GenderIdentity | None, orientation: SexualOrientation | None,
                           expected: str) -> None:
    data = SensitiveData(
        gender_identity=Declared(gender, CONSENT) if gender else None,
        sexual_orientation=SexualOrientationDeclared(orientation, CONSENT, at_persons_request=True)
        if orientation else None)
    assert statistical_facets(data).lgbtqia == expected


def test_prefers_not_to_say_is_unknown_and_health_is_never_counted() -> None:
    facets = statistical_facets(SensitiveData(
        health=HealthInformation(CONSENT, flags=(HealthFlag.PREGNANT,)),
        race_colour=Declared(RaceColour.PREFERS_NOT_TO_SAY, CONSENT),
        gender_identity=Declared(GenderIdentity.PREFERS_NOT_TO_SAY, CONSENT)))
    assert facets == SensitiveFacets()


def test_every_declared_value_maps_to_a_facet_the_contract_accepts() -> None:
    for race in RaceColour:
        facets = statistical_facets(SensitiveData(race_colour=Declared(race, CONSENT)))
        PersonFacets(race_colour=facets.race_colour)  # the contract's Literal accepts it
        assert facets.race_colour == ("unknown" if race is RaceColour.PREFERS_NOT_TO_SAY else race.value)
    for gender in GenderIdentity:
        facets = statistical_facets(SensitiveData(gender_identity=Declared(gender, CONSENT)))
        PersonFacets(gender_identity=facets.gender_identity, lgbtqia=facets.lgbtqia)
        assert facets.gender_identity == ("unknown" if gender is GenderIdentity.PREFERS_NOT_TO_SAY else gender.value)


def test_sexual_orientation_is_recorded_only_at_the_persons_request_and_health_says_something() -> None:
    with pytest.raises(ValueError, match="only when the person asks"):
        SexualOrientationDeclared(SexualOrientation.GAY, CONSENT)
    with pytest.raises(ValueError, match="a flag or a note"):
        HealthInformation(CONSENT)
    with pytest.raises(ValueError, match="280 characters"):
        HealthInformation(CONSENT, note="x" * 281)
    assert HealthInformation(CONSENT, note="insulin").note == "insulin"


# --- countries and languages by name ------------------------------------------------------------------------


def test_the_country_table_holds_the_249_iso_3166_countries_with_their_current_alpha3() -> None:
    assert len(ALPHA3_OF) == len(ALPHA2_OF) == 249
    assert {ALPHA3_OF[a2] for a2 in ("VE", "HT", "PY", "BO", "CU", "BR")} == {"VEN", "HTI", "PRY", "BOL", "CUB",
                                                                             "BRA"}
    # Withdrawn codes CLDR still aliases are not taken for the current ones.
    assert (ALPHA3_OF["MM"], ALPHA3_OF["DE"], ALPHA3_OF["CD"], ALPHA3_OF["TL"]) == ("MMR", "DEU", "COD", "TLS")
    assert ALPHA3_OF["SS"] == "SSD" and ALPHA3_OF["PS"] == "PSE"
    assert not ({"EU", "UN", "XK", "ZZ", "AC", "IC"} & set(ALPHA3_OF))
    assert is_country_code("HTI") and not is_country_code("XXX") and not is_country_code("BUR")


def test_countries_are_named_and_ordered_in_the_pages_language() -> None:
    assert country_name("HTI", "pt_BR") == "Haiti" and country_name("DEU", "pt_BR") == "Alemanha"
    assert country_name("DEU", "es") == "Alemania" and country_name("DEU", "en") == "Germany"
    assert country_name("DEU", "fr") == "Allemagne"
    assert country_name("HTI", "ht") == "Haïti"  # CLDR names them in French for Haitian Creole
    names = [name for _, name in country_names("pt_BR")]
    # Accents and case do not decide the order: "África do Sul" comes among the A's.
    assert names.index("Afeganistão") < names.index("África do Sul") < names.index("Albânia")
    assert len(names) == 249


def test_the_desk_languages_are_named_in_the_pages_language() -> None:
    spanish = dict(language_names("es", lambda text: {"Haitian Creole": "Criollo haitiano"}.get(text, text)))
    assert list(spanish) == list(DESK_LANGUAGES)
    assert spanish["ht"] == "Criollo haitiano"  # the catalog's name
    assert spanish["gn"] == "Guaraní" and spanish["qu"] == "Quechua"  # CLDR's, capitalised
    assert spanish["wba"] == "Warao"  # CLDR has none: the catalog's
    assert all(is_language_code(code) for code in DESK_LANGUAGES)
    assert is_language_code("fa-AF") and not is_language_code("xx")
