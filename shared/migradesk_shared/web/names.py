"""Countries and languages named in the page's language, from the Unicode CLDR data Babel ships.

The APIs store ISO 3166-1 alpha-3 country codes (VEN, HTI) and ISO 639 language codes (es, ht, gn); people
choose them by name. CLDR names territories by their alpha-2 code and lists every alpha-3 code as an alias of
its alpha-2 one, so the alpha-2 <-> alpha-3 table is built from those aliases, minus what is not an ISO 3166-1
country (CLDR's own regions, groupings and test codes) and the withdrawn alpha-3 codes that alias a country
still assigned (BUR for Myanmar, DDR for Germany...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import cache

from babel import Locale
from babel.core import get_global

from migradesk_shared.web.i18n import N_, formatting_locale

# Territories CLDR names that ISO 3166-1 does not assign: parts of a country (Ascension, Ceuta and Melilla, the
# Canary Islands, Clipperton, Diego Garcia, Sark, Tristan da Cunha), groupings (EU, Eurozone, UN, Outlying
# Oceania), Kosovo (a user-assigned code, with no agreed alpha-3), and CLDR's test and unknown codes.
_NOT_ISO_3166 = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"})
# Withdrawn alpha-3 codes CLDR still aliases to a current alpha-2 one.
_WITHDRAWN_ALPHA3 = frozenset({"BUR", "DDR", "FXX", "TMP", "YMD", "ZAR"})


def _alpha2_to_alpha3() -> dict[str, str]:
    territories = Locale.parse("en").territories
    table: dict[str, str] = {}
    for alias, replacement in get_global("territory_aliases").items():
        if (len(alias) == 3 and alias.isalpha() and alias.isupper() and alias not in _WITHDRAWN_ALPHA3
                and len(replacement) == 1 and replacement[0] in territories and replacement[0] not in _NOT_ISO_3166):
            table[replacement[0]] = alias
    return dict(sorted(table.items()))


ALPHA3_OF: dict[str, str] = _alpha2_to_alpha3()
ALPHA2_OF: dict[str, str] = {alpha3: alpha2 for alpha2, alpha3 in ALPHA3_OF.items()}
COUNTRY_CODES: frozenset[str] = frozenset(ALPHA2_OF)  # ISO 3166-1 alpha-3


def is_country_code(code: str) -> bool:
    """An ISO 3166-1 alpha-3 code of a country (VEN, HTI), not just three capital letters."""
    return code in COUNTRY_CODES


def _sort_key(name: str) -> str:
    # "Índia" among the I's, "Émirats" among the E's: accents and case do not decide the order.
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


@cache
def country_names(locale: str) -> tuple[tuple[str, str], ...]:
    """(alpha-3 code, name in the locale) of every country, in the locale's alphabetical order. Haitian Creole
    gets CLDR's names for it, which are the French ones where CLDR has no Creole name."""
    territories = Locale.parse(formatting_locale(locale)).territories
    named = [(alpha3, territories.get(alpha2, alpha3)) for alpha2, alpha3 in ALPHA3_OF.items()]
    return tuple(sorted(named, key=lambda item: _sort_key(item[1])))


def country_name(code: str, locale: str) -> str:
    return dict(country_names(locale)).get(code, code)


# The languages the desk offers, by ISO 639 code: the country's, those of the people who come (Spanish,
# Haitian Creole and French, Guarani, Quechua and Aymara, the Venezuelan indigenous Warao and Wayuu, Arabic,
# Persian and Pashto...) and a few more. The API takes any ISO 639 code.
DESK_LANGUAGES: tuple[str, ...] = ("pt", "es", "ht", "fr", "en", "gn", "qu", "ay", "wba", "guc", "ar", "fa", "ps",
                                   "ur", "bn", "hi", "zh", "ru", "uk", "sw", "ln", "wo", "yo", "it", "de")
# Names from the catalogs rather than CLDR: the pages' own languages (CLDR names them in French for Haitian
# Creole), and those CLDR lacks in some or every language.
_CATALOG_NAMES: dict[str, str] = {"pt": N_("Portuguese"), "es": N_("Spanish"), "ht": N_("Haitian Creole"),
                                  "fr": N_("French"), "en": N_("English"), "wba": N_("Warao"), "guc": N_("Wayuu")}


# Read once: every language of every registration is checked against it.
_CLDR_LANGUAGES: frozenset[str] = frozenset(Locale.parse("en").languages)


def is_language_code(code: str) -> bool:
    """An ISO 639 code CLDR knows (a region subtag allowed: fa-AF), or one of the desk's own."""
    base = code.split("-", 1)[0]
    return base in _CATALOG_NAMES or base in _CLDR_LANGUAGES


def _capitalised(name: str) -> str:
    # CLDR writes language names in lower case where the language does ("espanhol"); alone in a list they
    # start with a capital.
    return name[:1].upper() + name[1:]


def language_names(locale: str, gettext: Callable[[str], str]) -> tuple[tuple[str, str], ...]:
    """(code, name in the locale) of the desk's languages, in the desk's order (the frequent ones first)."""
    names = Locale.parse(formatting_locale(locale)).languages
    return tuple((code, gettext(_CATALOG_NAMES[code]) if code in _CATALOG_NAMES
                  else _capitalised(names.get(code, code))) for code in DESK_LANGUAGES)
