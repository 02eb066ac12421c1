"""The languages of the pages: which one a request gets, its gettext catalogs, and locale-aware formatting.

Catalogs are gettext `.po` files compiled to `.mo` (build output: `make i18n-compile`). Each service's pages use
two: the shared one beside this module (the layout, the common errors) and the service's own, which wins where
both translate the same message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import dates, localedata, numbers
from babel.support import Translations

DOMAIN = "messages"
LANG_PARAM = "lang"
LANG_COOKIE = "migradesk_lang"
TIMEZONE = "America/Sao_Paulo"
# The shared catalog: the layout's strings and the errors every form shows alike.
SHARED_LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@dataclass(frozen=True)
class Language:
    code: str  # the gettext catalog's name, and the value the cookie keeps
    tag: str  # BCP-47, for the html lang attribute, hreflang and Content-Language
    name: str  # the language named in itself, as the switcher shows it


LANGUAGES: tuple[Language, ...] = (
    Language("pt_BR", "pt-BR", "Português"),
    Language("es", "es", "Español"),
    Language("fr", "fr", "Français"),
    Language("ht", "ht", "Kreyòl ayisyen"),
    Language("en", "en", "English"),
)
DEFAULT_LOCALE = "pt_BR"
LOCALE_CODES: tuple[str, ...] = tuple(language.code for language in LANGUAGES)
_BY_CODE = {language.code: language for language in LANGUAGES}
# A bare or regional tag ("pt", "pt-PT", "es-VE", "fr-CA", "ht-HT") goes to the one catalog of that language.
_BY_PRIMARY = {language.code.split("_")[0]: language.code for language in LANGUAGES}


def language(code: str) -> Language:
    return _BY_CODE[code]


def supported_locale(value: str | None) -> str | None:
    """The supported locale a language tag or locale name asks for, or None for an unsupported one."""
    if not value:
        return None
    wanted = value.strip().replace("-", "_").lower()
    for code in LOCALE_CODES:
        if code.lower() == wanted:
            return code
    return _BY_PRIMARY.get(wanted.split("_")[0])


def accepted_languages(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (ties keep their order); q=0 and * dropped."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


@dataclass(frozen=True)
class LocaleChoice:
    locale: str
    # Chosen explicitly with ?lang=: the response remembers it in the cookie.
    remember: bool = False


def negotiate_locale(*, query: str | None = None, cookie: str | None = None, accept_language: str | None = None,
                     account: str | None = None) -> LocaleChoice:
    """The locale of a request, from the first of these that names a supported language: the `lang` query
    parameter, the signed-in account's stored language (the hook `account`; intake keeps it with the account),
    the `migradesk_lang` cookie, the Accept-Language header; else pt_BR.

    The account's language comes after an explicit ?lang= (a person switching language sees the switch at once)
    and before the cookie (the account follows its person from one device to the next)."""
    explicit = supported_locale(query)
    if explicit:
        return LocaleChoice(explicit, remember=True)
    for candidate in (account, cookie):
        found = supported_locale(candidate)
        if found:
            return LocaleChoice(found)
    for tag in accepted_languages(accept_language):
        found = supported_locale(tag)
        if found:
            return LocaleChoice(found)
    return LocaleChoice(DEFAULT_LOCALE)


class MissingCatalog(RuntimeError):
    pass


def load_translations(locale: str, locale_dirs: Sequence[Path]) -> Translations:
    """The compiled catalogs of `locale` from each folder, merged in order: a later one wins on a message both
    translate. A missing `.mo` is an error: the pages would silently show the English source strings."""
    merged: Translations | None = None
    for folder in locale_dirs:
        path = folder / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not path.is_file():
            raise MissingCatalog(f"no compiled catalog {path}: compile the catalogs (make i18n-compile)")
        with path.open("rb") as compiled:
            loaded = Translations(compiled, domain=DOMAIN)
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    if merged is None:
        raise MissingCatalog("no catalog folder given")
    return merged


def load_all_translations(locale_dirs: Sequence[Path]) -> dict[str, Translations]:
    return {code: load_translations(code, locale_dirs) for code in LOCALE_CODES}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


# CLDR's Haitian Creole data is thin or absent depending on Babel's version, and where present it inherits
# from fr_HT: dates and numbers in Haiti are written the French way, so Haitian pages fall back to that.
_FORMAT_FALLBACKS: Mapping[str, tuple[str, ...]] = {"ht": ("ht", "fr_HT", "fr")}


@cache
def formatting_locale(locale: str) -> str:
    """The CLDR locale that formats dates and numbers for a supported locale (its gettext catalog keeps the
    locale's own name)."""
    for candidate in _FORMAT_FALLBACKS.get(locale, (locale,)):
        if localedata.exists(candidate):
            return candidate
    return DEFAULT_LOCALE


def format_date(value: date, locale: str, format: str = "medium", tz: str = TIMEZONE) -> str:
    """A calendar date; a datetime gives its date in the desk's time zone (naive: UTC, as stored)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        value = moment.astimezone(dates.get_timezone(tz)).date()
    return dates.format_date(value, format=format, locale=formatting_locale(locale))


def format_datetime(value: datetime, locale: str, format: str = "medium", tz: str = TIMEZONE) -> str:
    """A moment in the desk's time zone unless another is given; a naive datetime is taken as UTC, as stored."""
    return dates.format_datetime(value, format=format, tzinfo=dates.get_timezone(tz),
                                 locale=formatting_locale(locale))


def format_number(value: int | float | Decimal, locale: str) -> str:
    return numbers.format_decimal(value, locale=formatting_locale(locale))

