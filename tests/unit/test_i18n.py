"""The languages of the pages: which one a request gets, formatting per locale, the render helper, and catalogs
that translate every message of the code into every supported language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel import localedata
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from migradesk_intake.entrypoints.pages import AREA_LABELS, CATEGORY_LABELS, category_groups
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.web import i18n
from migradesk_shared.web.i18n import (
    DEFAULT_LOCALE,
    LANG_COOKIE,
    LOCALE_CODES,
    SHARED_LOCALE_DIR,
    MissingCatalog,
    accepted_languages,
    format_date,
    format_datetime,
    format_number,
    formatting_locale,
    negotiate_locale,
    supported_locale,
)
from migradesk_shared.web.templates import Pages

ROOT = Path(__file__).resolve().parents[2]

# --- which language a request gets ---------------------------------------------------------------------------


def test_the_supported_locales_and_the_default() -> None:
    assert LOCALE_CODES == ("pt_BR", "es", "fr", "ht", "en")
    assert DEFAULT_LOCALE == "pt_BR"


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    ("fr", "es", "en", "fr"),  # the query beats the cookie
    (None, "es", "en", "es"),  # the cookie beats Accept-Language
    (None, None, "en-US,en;q=0.9", "en"),  # Accept-Language beats the default
    (None, None, None, "pt_BR"),  # nothing asked: the default
    ("de", "es", "en", "es"),  # an unknown language in the query is passed over
    (None, "xx", "ht", "ht"),  # and in the cookie
    (None, None, "de-DE,ru;q=0.8", "pt_BR"),  # only unknown languages accepted: the default
    (None, None, "de-DE,es;q=0.5,en;q=0.3", "es"),  # the first known one wins
    (None, None, "en;q=0.4, fr-CA;q=0.9", "fr"),  # by quality, not by position
    (None, None, "es;q=0, en;q=0.1", "en"),  # q=0 means "not this one"
    (None, None, "*", "pt_BR"),
])
def test_query_beats_cookie_beats_accept_language_beats_default(
        query: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    assert negotiate_locale(query=query, cookie=cookie, accept_language=header).locale == expected


@pytest.mark.parametrize(("asked", "expected"), [
    ("pt-BR", "pt_BR"), ("pt_BR", "pt_BR"), ("PT-br", "pt_BR"), ("pt", "pt_BR"), ("pt-PT", "pt_BR"),
    ("es-VE", "es"), ("es-419", "es"), ("fr-CA", "fr"), ("ht-HT", "ht"), ("ht", "ht"), ("en-GB", "en"),
    ("de", None), ("", None), (None, None), ("zz-ZZ", None),
])
def test_a_language_tag_goes_to_the_catalog_of_its_language(asked: str | None, expected: str | None) -> None:
    assert supported_locale(asked) == expected


def test_only_an_explicit_choice_is_remembered() -> None:
    assert negotiate_locale(query="es").remember
    assert not negotiate_locale(cookie="es").remember
    assert not negotiate_locale(accept_language="es").remember
    assert not negotiate_locale(query="de").remember


def test_an_account_language_comes_after_the_query_and_before_the_cookie() -> None:
    assert negotiate_locale(query="fr", account="ht", cookie="es").locale == "fr"
    assert negotiate_locale(account="ht", cookie="es", accept_language="en").locale == "ht"
    assert negotiate_locale(account="de", cookie="es").locale == "es"


def test_accept_language_is_read_in_order_of_quality() -> None:
    assert accepted_languages("da, en-GB;q=0.8, en;q=0.7, *;q=0.1") == ["da", "en-GB", "en"]
    assert accepted_languages("fr;q=bad, es") == ["es"]
    assert accepted_languages(None) == []


# --- formatting ----------------------------------------------------------------------------------------------

A_DATE = date(2026, 3, 7)
A_MOMENT = datetime(2026, 3, 7, 15, 30, tzinfo=UTC)


@pytest.fixture
def fresh_formatting_locale() -> Iterator[None]:
    formatting_locale.cache_clear()
    yield
    formatting_locale.cache_clear()


def test_a_date_in_portuguese_english_and_haitian_creole() -> None:
    assert format_date(A_DATE, "pt_BR") == "7 de mar. de 2026"
    assert format_date(A_DATE, "pt_BR", "long") == "7 de março de 2026"
    assert format_date(A_DATE, "en") == "Mar 7, 2026"
    assert format_date(A_DATE, "es", "long") == "7 de marzo de 2026"
    # Haiti writes dates the French way: CLDR's ht (where Babel has it) inherits them from fr_HT.
    assert format_date(A_DATE, "ht") == format_date(A_DATE, "fr") == "7 mars 2026"


def test_a_moment_is_shown_in_the_desk_time_zone_unless_another_is_given() -> None:
    assert format_datetime(A_MOMENT, "pt_BR") == "7 de mar. de 2026 12:30:00"
    assert format_datetime(A_MOMENT, "en", "short", tz="UTC") == "3/7/26, 3:30\u202fPM"
    # A naive datetime is UTC, as the stores keep them; late at night in UTC is still the day before here.
    assert format_datetime(datetime(2026, 3, 7, 1, 30), "pt_BR", "short") == "06/03/2026 22:30"
    assert format_date(datetime(2026, 3, 7, 1, 30, tzinfo=UTC), "pt_BR") == "6 de mar. de 2026"


def test_numbers_per_locale() -> None:
    assert format_number(1234567.891, "pt_BR") == "1.234.567,891"
    assert format_number(1234567.891, "en") == "1,234,567.891"
    assert format_number(1234567.891, "es") == "1.234.567,891"
    assert format_number(1234567, "ht").replace("\u202f", " ").replace("\xa0", " ") == "1 234 567"


def test_haitian_creole_is_formatted_with_haitian_then_french_data(
        monkeypatch: pytest.MonkeyPatch, fresh_formatting_locale: None) -> None:
    assert formatting_locale("ht") == ("ht" if localedata.exists("ht") else "fr_HT")
    known = localedata.exists

    monkeypatch.setattr(localedata, "exists", lambda name: name != "ht" and known(name))
    formatting_locale.cache_clear()
    assert formatting_locale("ht") == "fr_HT"
    assert format_date(A_DATE, "ht") == "7 mars 2026"

    monkeypatch.setattr(localedata, "exists", lambda name: name not in {"ht", "fr_HT"} and known(name))
    formatting_locale.cache_clear()
    assert formatting_locale("ht") == "fr"
    assert format_date(A_DATE, "ht") == "7 mars 2026"
    assert formatting_locale("es") == "es"


# --- the render helper ---------------------------------------------------------------------------------------


def compile_po(po: Path, mo: Path) -> None:
    with po.open("rb") as source:
        catalog = read_po(source)
    mo.parent.mkdir(parents=True, exist_ok=True)
    with mo.open("wb") as target:
        write_mo(target, catalog)


@pytest.fixture
def compiled_catalogs(tmp_path: Path) -> tuple[Path, Path]:
    """The shared catalog compiled from its .po files, and a small service catalog: the tests do not depend on
    `make i18n-compile` having run."""
    shared, service = tmp_path / "shared", tmp_path / "service"
    for code in LOCALE_CODES:
        compile_po(SHARED_LOCALE_DIR / code / "LC_MESSAGES" / "messages.po",
                   shared / code / "LC_MESSAGES" / "messages.mo")
        catalog = Catalog(locale=code)
        catalog.add("Hello", f"Hello in {code}")
        # The service's catalog wins over the shared one on a message both translate.
        catalog.add("Skip to main content", f"Skip, as the service says it in {code}")
        (service / code / "LC_MESSAGES").mkdir(parents=True)
        with (service / code / "LC_MESSAGES" / "messages.mo").open("wb") as target:
            write_mo(target, catalog)
    return shared, service


@pytest.fixture
def page_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "hello.html").write_text(
        '{% extends "base.html" %}{% block title %}{{ _("Hello") }}{% endblock %}'
        '{% block content %}<p id="greeting">{{ _("Hello") }}</p><p id="day">{{ day|date("long") }}</p>'
        '<p id="count">{{ 12345|number }}</p><p id="escaped">{{ name }}</p>{% endblock %}', encoding="utf-8")
    return folder


def client_for(pages: Pages) -> TestClient:
    app = FastAPI()

    @app.get("/hello", response_class=HTMLResponse)
    async def hello(request: Request) -> HTMLResponse:
        return await pages.render(request, "hello.html", {"day": A_DATE, "name": "<b>Jean</b>"})

    return TestClient(app)


def test_a_page_renders_in_the_language_asked_for_and_remembers_it(
        compiled_catalogs: tuple[Path, Path], page_templates: Path) -> None:
    shared, service = compiled_catalogs
    client = client_for(Pages(templates=page_templates, locale_dir=service, shared_locale_dir=shared))

    first = client.get("/hello?lang=es&page=2")
    assert first.status_code == 200
    assert '<html lang="es">' in first.text
    assert '<p id="greeting">Hello in es</p>' in first.text
    assert '<p id="day">7 de marzo de 2026</p>' in first.text and '<p id="count">12.345</p>' in first.text
    assert "&lt;b&gt;Jean&lt;/b&gt;" in first.text  # autoescaped
    assert "Skip, as the service says it in es" in first.text
    assert first.headers["content-language"] == "es"
    assert "Accept-Language" in first.headers["vary"]
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=es;")
    assert "Path=/" in cookie and "SameSite=lax" in cookie and "HttpOnly" not in cookie
    # The switcher: each language named in itself, linking to this page with its other parameters kept.
    for tag, name in [("pt-BR", "Português"), ("es", "Español"), ("fr", "Français"), ("ht", "Kreyòl ayisyen"),
                      ("en", "English")]:
        assert f'href="?page=2&amp;lang={tag}" lang="{tag}" hreflang="{tag}"' in first.text
        assert f">{name}</a>" in first.text
    assert 'hreflang="es" aria-current="true">Español' in first.text
    assert first.text.count('aria-current="true"') == 1

    remembered = client.get("/hello")  # the client sends the cookie back
    assert '<html lang="es">' in remembered.text and "set-cookie" not in remembered.headers


def test_without_a_choice_the_browser_languages_then_portuguese(
        compiled_catalogs: tuple[Path, Path], page_templates: Path) -> None:
    shared, service = compiled_catalogs
    client = client_for(Pages(templates=page_templates, locale_dir=service, shared_locale_dir=shared))

    haitian = client.get("/hello", headers={"Accept-Language": "ht-HT,fr;q=0.8"})
    assert '<html lang="ht">' in haitian.text and "Hello in ht" in haitian.text
    assert '<p id="day">7 mars 2026</p>' in haitian.text
    assert "set-cookie" not in haitian.headers

    default = client.get("/hello", headers={"Accept-Language": "de"})
    assert '<html lang="pt-BR">' in default.text and "Hello in pt_BR" in default.text
    assert '<p id="day">7 de março de 2026</p>' in default.text
    assert "Idioma da página" in default.text  # the shared layout's strings, in Portuguese

    client.cookies.set(LANG_COOKIE, "fr")
    unknown = client.get("/hello?lang=de")
    assert '<html lang="fr">' in unknown.text and "set-cookie" not in unknown.headers


def test_the_account_language_hook(compiled_catalogs: tuple[Path, Path], page_templates: Path) -> None:
    shared, service = compiled_catalogs

    async def stored_language(request: Request) -> str | None:
        return "en"

    client = client_for(Pages(templates=page_templates, locale_dir=service, shared_locale_dir=shared,
                              account_language=stored_language))
    client.cookies.set(LANG_COOKIE, "fr")
    assert '<html lang="en">' in client.get("/hello").text
    assert '<html lang="es">' in client.get("/hello?lang=es").text


def test_a_missing_compiled_catalog_stops_the_pages_at_start_up(
        compiled_catalogs: tuple[Path, Path], page_templates: Path) -> None:
    shared, service = compiled_catalogs
    (service / "ht" / "LC_MESSAGES" / "messages.mo").unlink()
    with pytest.raises(MissingCatalog, match="make i18n-compile"):
        Pages(templates=page_templates, locale_dir=service, shared_locale_dir=shared)


# --- the catalogs translate everything -----------------------------------------------------------------------


def catalog_packages() -> list[Path]:
    """Every package with its own catalog: the shared layout's and each service's (the folders holding locale/,
    as `make i18n-extract` finds them)."""
    return sorted(p.parent for p in [*ROOT.glob("shared/migradesk_shared/web/locale"),
                                     *ROOT.glob("services/*/migradesk_*/locale")] if p.is_dir())


def extracted(package: Path) -> Catalog:
    """A fresh catalog of the messages in the package's code and templates, extracted as babel.cfg says."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalog = Catalog()
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(package), method_map, options_map, keywords=DEFAULT_KEYWORDS):
        catalog.add(message, None, [(filename, lineno)], context=context)
    return catalog


def test_the_catalog_walk_sees_the_pages() -> None:
    # A walk over nothing would pass the completeness test below.
    packages = catalog_packages()
    assert ROOT / "shared" / "migradesk_shared" / "web" in packages
    assert ROOT / "services" / "intake" / "migradesk_intake" in packages
    assert "Skip to main content" in extracted(ROOT / "shared" / "migradesk_shared" / "web")
    intake = extracted(ROOT / "services" / "intake" / "migradesk_intake")
    assert "Register a visit" in intake and "Full name" in intake and "SUS card (Cartão SUS)" in intake


def test_every_package_with_templates_has_its_own_catalog() -> None:
    templated = {p.parent for p in [*ROOT.glob("shared/migradesk_shared/**/templates"),
                                    *ROOT.glob("services/*/migradesk_*/**/templates")] if p.is_dir()}
    assert templated - set(catalog_packages()) == set()


@pytest.mark.parametrize("package", catalog_packages(), ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("locale", LOCALE_CODES)
def test_every_message_is_translated_in_every_language(package: Path, locale: str) -> None:
    po = package / "locale" / locale / "LC_MESSAGES" / "messages.po"
    assert po.is_file(), f"{po.relative_to(ROOT)} is missing: run make i18n-extract and translate it"
    with po.open("rb") as source:
        translated = read_po(source, locale=locale)
    problems = []
    for message in extracted(package):
        if not message.id:
            continue
        found = translated.get(message.id, context=message.context)
        label = f"{message.context + ' | ' if message.context else ''}{message.id!r}"
        if found is None:
            problems.append(f"missing: {label}")
        elif found.fuzzy:
            problems.append(f"fuzzy (review it, then drop the flag): {label}")
        elif not all(found.string if isinstance(found.string, tuple) else [found.string]):
            problems.append(f"untranslated: {label}")
    problems += [f"{message.id!r}: {error}" for message, errors in translated.check() for error in errors]
    assert problems == [], f"{po.relative_to(ROOT)} (run make i18n-extract, then translate):\n" + "\n".join(problems)


def test_the_desk_names_every_request_category_and_area() -> None:
    assert set(CATEGORY_LABELS) == set(CATEGORIES)
    groups = category_groups(list(CATEGORIES.values()))
    assert [g.area for g in groups] == [AREA_LABELS[a] for a in (*ServiceArea, None)]
    assert sorted(o.code for g in groups for o in g.options) == sorted(CATEGORIES)


def test_the_module_keeps_one_list_of_languages() -> None:
    assert [lang.code for lang in i18n.LANGUAGES] == list(LOCALE_CODES)
    assert len({lang.tag for lang in i18n.LANGUAGES}) == len(LOCALE_CODES)
