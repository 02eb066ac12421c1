"""What a person brings to the agency, per request category: the documents the services ask for, as the referral
slip lists them in the person's language. Data, kept with the rules of the network (the pages translate each
document's name from the catalogs).

A person missing one of them still goes (the slip says so): the agency says what can replace it, and the SUS and
the protection network serve whoever comes.
"""

from __future__ import annotations

from collections.abc import Mapping


def N_(message: str) -> str:
    """Marks a message for the catalogs (the pages translate it where they show it)."""
    return message


IDENTITY = "identity"
CPF = "cpf"
SUS_CARD = "sus_card"
PROOF_OF_ADDRESS = "proof_of_address"
SCHOOL_RECORDS = "school_records"
WORK_CARD = "work_card"
BIRTH_CERTIFICATE = "birth_certificate"
VACCINATION_CARD = "vaccination_card"
PRENATAL_CARD = "prenatal_card"
DIPLOMA = "diploma"
NIS = "nis"
PROOF_OF_INCOME = "proof_of_income"
MEDICAL_REPORTS = "medical_reports"
ANY_RECORD = "any_record"

DOCUMENTS: Mapping[str, str] = {
    IDENTITY: N_("An identity document: RNM/CRNM, refugee or residence protocol, or passport"),
    CPF: N_("CPF"),
    SUS_CARD: N_("SUS card (Cartão SUS), if you have one"),
    PROOF_OF_ADDRESS: N_("Proof of address (a recent bill or a declaration of residence)"),
    SCHOOL_RECORDS: N_("School records (transcript or declaration of the last school year)"),
    WORK_CARD: N_("Work card (CTPS Digital), if you have one"),
    BIRTH_CERTIFICATE: N_("Birth certificates of the children"),
    VACCINATION_CARD: N_("Vaccination card"),
    PRENATAL_CARD: N_("Prenatal card and recent exams, if you have them"),
    DIPLOMA: N_("Diploma and transcript, with their translation if you have it"),
    NIS: N_("NIS number (of the Cadastro Único), if you have one"),
    PROOF_OF_INCOME: N_("Proof of the family's income, if there is any"),
    MEDICAL_REPORTS: N_("Medical reports and prescriptions you have"),
    ANY_RECORD: N_("Any record of what happened (messages, photos, reports), if you have it and it is safe"),
}

_HEALTH = (IDENTITY, CPF, SUS_CARD, PROOF_OF_ADDRESS)
_SOCIAL = (IDENTITY, CPF, PROOF_OF_ADDRESS, NIS, PROOF_OF_INCOME)

# Category -> the documents to bring, in the order the slip lists them.
BY_CATEGORY: Mapping[str, tuple[str, ...]] = {
    "sus_card": (IDENTITY, CPF, PROOF_OF_ADDRESS),
    "primary_care": _HEALTH,
    "mental_health": (*_HEALTH, MEDICAL_REPORTS),
    "maternal_care": (*_HEALTH, PRENATAL_CARD),
    "vaccination": (IDENTITY, SUS_CARD, VACCINATION_CARD),
    "school_enrolment": (IDENTITY, CPF, BIRTH_CERTIFICATE, PROOF_OF_ADDRESS, SCHOOL_RECORDS, VACCINATION_CARD),
    "portuguese_course": (IDENTITY, CPF),
    "diploma_revalidation": (IDENTITY, CPF, DIPLOMA),
    "adult_education": (IDENTITY, CPF, PROOF_OF_ADDRESS, SCHOOL_RECORDS),
    "daycare": (IDENTITY, CPF, BIRTH_CERTIFICATE, PROOF_OF_ADDRESS, VACCINATION_CARD),
    "cadunico": (*_SOCIAL, BIRTH_CERTIFICATE),
    "bolsa_familia": (*_SOCIAL, BIRTH_CERTIFICATE),
    "bpc": (*_SOCIAL, MEDICAL_REPORTS),
    "shelter": (IDENTITY,),
    "food_support": (IDENTITY, CPF, NIS),
    "rent_support": _SOCIAL,
    "housing": _SOCIAL,
    "job_placement": (IDENTITY, CPF, WORK_CARD, SCHOOL_RECORDS),
    "ctps_digital": (IDENTITY, CPF),
    "vocational_training": (IDENTITY, CPF, PROOF_OF_ADDRESS, SCHOOL_RECORDS),
    "mei": (IDENTITY, CPF, PROOF_OF_ADDRESS),
    "gender_violence": (IDENTITY, ANY_RECORD),
    "lgbtqia_phobia": (IDENTITY, ANY_RECORD),
    "racism_xenophobia": (IDENTITY, ANY_RECORD),
    "trafficking": (IDENTITY, ANY_RECORD),
    "child_protection": (IDENTITY, BIRTH_CERTIFICATE, ANY_RECORD),
    "labour_exploitation": (IDENTITY, WORK_CARD, ANY_RECORD),
    "legal_aid": (IDENTITY, CPF, PROOF_OF_ADDRESS, PROOF_OF_INCOME),
}
# A category without its own list (one added later): what every service asks for.
DEFAULT = (IDENTITY, CPF)


def documents_for(category: str) -> tuple[str, ...]:
    """The documents (keys of DOCUMENTS) a person brings for a request of `category`."""
    return BY_CATEGORY.get(category, DEFAULT)
