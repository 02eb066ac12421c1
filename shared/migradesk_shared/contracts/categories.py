"""Request categories and the service area each one is referred to. Extend the table here, and only here."""

from __future__ import annotations

from dataclasses import dataclass

from migradesk_shared.topics import ServiceArea


@dataclass(frozen=True)
class Category:
    code: str
    area: ServiceArea | None  # None: resolved at the desk itself (documentation, legal orientation)
    label_pt: str


_TABLE: tuple[Category, ...] = (
    # health
    Category("sus_card", ServiceArea.HEALTH, "Cartão SUS"),
    Category("primary_care", ServiceArea.HEALTH, "Atenção primária"),
    Category("mental_health", ServiceArea.HEALTH, "Saúde mental"),
    Category("maternal_care", ServiceArea.HEALTH, "Saúde materna / pré-natal"),
    Category("vaccination", ServiceArea.HEALTH, "Vacinação"),
    # education
    Category("school_enrolment", ServiceArea.EDUCATION, "Matrícula escolar"),
    Category("portuguese_course", ServiceArea.EDUCATION, "Curso de português"),
    Category("diploma_revalidation", ServiceArea.EDUCATION, "Revalidação de diploma"),
    Category("adult_education", ServiceArea.EDUCATION, "Educação de jovens e adultos (EJA)"),
    Category("daycare", ServiceArea.EDUCATION, "Vaga em creche / educação infantil"),
    # social assistance
    Category("cadunico", ServiceArea.SOCIAL_ASSISTANCE, "Cadastro Único"),
    Category("bolsa_familia", ServiceArea.SOCIAL_ASSISTANCE, "Bolsa Família"),
    Category("bpc", ServiceArea.SOCIAL_ASSISTANCE, "Benefício de Prestação Continuada (BPC)"),
    Category("shelter", ServiceArea.SOCIAL_ASSISTANCE, "Acolhimento / abrigo"),
    Category("food_support", ServiceArea.SOCIAL_ASSISTANCE, "Apoio alimentar"),
    Category("rent_support", ServiceArea.SOCIAL_ASSISTANCE, "Auxílio aluguel"),
    # No service area of its own: the way into the housing programmes goes through CadÚnico and the CRAS.
    Category("housing", ServiceArea.SOCIAL_ASSISTANCE, "Moradia / habitação (programas habitacionais)"),
    # work
    Category("job_placement", ServiceArea.WORK, "Intermediação de emprego"),
    Category("ctps_digital", ServiceArea.WORK, "CTPS Digital"),
    Category("vocational_training", ServiceArea.WORK, "Qualificação profissional"),
    Category("mei", ServiceArea.WORK, "Microempreendedor individual (MEI)"),
    # protection
    Category("gender_violence", ServiceArea.PROTECTION, "Violência de gênero"),
    Category("lgbtqia_phobia", ServiceArea.PROTECTION, "LGBTQIA+fobia"),
    Category("racism_xenophobia", ServiceArea.PROTECTION, "Racismo / xenofobia"),
    Category("trafficking", ServiceArea.PROTECTION, "Tráfico de pessoas"),
    Category("child_protection", ServiceArea.PROTECTION, "Proteção de crianças e adolescentes"),
    Category("labour_exploitation", ServiceArea.PROTECTION, "Trabalho análogo ao de escravo / exploração laboral"),
    # Representation before courts and administrations (the Defensoria Pública), beyond the desk's orientation.
    Category("legal_aid", ServiceArea.PROTECTION, "Assistência jurídica gratuita (Defensoria Pública)"),
    # resolved at the desk
    Category("documentation", None, "Documentação (CPF, RNM/CRNM, protocolo)"),
    Category("migratory_regularisation", None, "Regularização migratória (autorização de residência, refúgio)"),
    Category("family_reunification", None, "Reunião familiar"),
    Category("civil_registry", None, "Registro civil (certidões de nascimento, casamento, óbito)"),
    Category("interpretation", None, "Interpretação / tradução"),
    Category("legal_orientation", None, "Orientação jurídica / migratória"),
)

CATEGORIES: dict[str, Category] = {c.code: c for c in _TABLE}


class UnknownCategory(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown request category {code!r}; known: {', '.join(sorted(CATEGORIES))}")
        self.code = code


def category(code: str) -> Category:
    try:
        return CATEGORIES[code]
    except KeyError:
        raise UnknownCategory(code) from None


def area_of(code: str) -> ServiceArea | None:
    return category(code).area
