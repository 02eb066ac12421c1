"""Server-rendered pages: Jinja2 environments over a service's templates and the shared layout, one per supported
language, and the FastAPI helper that renders a page in the language of the request.

A service plugs in with a folder of templates (extending "base.html") and its catalog folder:

    pages = Pages(templates=HERE / "templates", locale_dir=HERE / "locale", account_language=session_language)
    pages.install_error_pages(app)  # sign-in redirects and the refusal page of web.session
    return await pages.render(request, "desk.html", {"categories": ...})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.support import Translations
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from migradesk_shared.web.forms import form_messages
from migradesk_shared.web.i18n import (
    LANG_COOKIE,
    LANG_PARAM,
    LANGUAGES,
    SHARED_LOCALE_DIR,
    TIMEZONE,
    LocaleChoice,
    format_date,
    format_datetime,
    format_number,
    language,
    load_all_translations,
    negotiate_locale,
)
from migradesk_shared.web.session import PageRefused, SignInRequired, layout_context

SHARED_TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

# The hook for a language stored with the signed-in account: given the request, that language (or None).
AccountLanguage = Callable[[Request], Awaitable[str | None]]


def template_environment(templates: Path | Sequence[Path], translations: Translations, locale: str) -> Environment:
    """An environment rendering in one language: the service's template folder(s) first (a service may override
    a shared template), then the shared one; autoescaped; gettext as `_`, `gettext`, `ngettext` and
    `{% trans %}` (new style: `_("Hello %(name)s", name=...)` escapes the value and formats); dates and numbers
    formatted for the locale as filters (`|date`, `|datetime`, `|number`) and functions; `form_messages()`,
    the common form errors."""
    folders = [templates] if isinstance(templates, Path) else list(templates)
    env = Environment(
        loader=FileSystemLoader([*folders, SHARED_TEMPLATES]),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Whitespace inside {% trans %} is collapsed, as the extraction in babel.cfg does: the msgids must match.
    env.policies["ext.i18n.trimmed"] = True
    # The i18n extension adds this method to the environment; its type stubs cannot know it.
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(date=partial(_date, locale=locale), datetime=partial(_datetime, locale=locale),
                       number=partial(format_number, locale=locale))
    env.globals.update(format_date=env.filters["date"], format_datetime=env.filters["datetime"],
                       format_number=env.filters["number"])
    # `translate(label)` translates a message held in a variable (marked with N_ where it is defined); the
    # extraction rightly skips it, and its result is escaped like any other value, unlike a literal's.
    env.globals.update(locale=locale, lang_tag=language(locale).tag, translate=translations.gettext,
                       form_messages=partial(form_messages, translations.gettext))
    return env


# In a template the locale is the environment's: `{{ day|date("long") }}`, `{{ when|datetime("short") }}`.
def _date(value: date, format: str = "medium", *, locale: str) -> str:
    return format_date(value, locale, format)


def _datetime(value: datetime, format: str = "medium", tz: str = TIMEZONE, *, locale: str) -> str:
    return format_datetime(value, locale, format, tz)


def language_links(request: Request, current: str) -> list[dict[str, Any]]:
    """The switcher's entries: each language named in itself, linking to this page with ?lang= (other query
    parameters kept), the current one marked."""
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != LANG_PARAM]
    return [{"code": lang.code, "tag": lang.tag, "name": lang.name, "current": lang.code == current,
             "href": "?" + urlencode([*kept, (LANG_PARAM, lang.tag)])} for lang in LANGUAGES]


class Pages:
    """A service's pages in every supported language. The catalogs are loaded when the service starts: a missing
    compiled catalog stops it there rather than showing pages in the source language."""

    def __init__(self, *, templates: Path | Sequence[Path], locale_dir: Path,
                 account_language: AccountLanguage | None = None,
                 shared_locale_dir: Path = SHARED_LOCALE_DIR) -> None:
        translations = load_all_translations([shared_locale_dir, locale_dir])
        self._translations = translations
        self._environments = {code: template_environment(templates, catalog, code)
                              for code, catalog in translations.items()}
        self._account_language = account_language

    def environment(self, locale: str) -> Environment:
        return self._environments[locale]

    def gettext(self, locale: str) -> Callable[[str], str]:
        """The catalogs' gettext of a supported locale, whatever the request's: a page may show some text in
        another language than its own (what staff read out to a person in that person's language)."""
        return self._translations[locale].gettext

    async def locale_of(self, request: Request) -> LocaleChoice:
        account = await self._account_language(request) if self._account_language else None
        return negotiate_locale(query=request.query_params.get(LANG_PARAM), account=account,
                                cookie=request.cookies.get(LANG_COOKIE),
                                accept_language=request.headers.get("accept-language"))

    async def render(self, request: Request, template: str, context: Mapping[str, Any] | None = None, *,
                     status_code: int = 200) -> HTMLResponse:
        """The template rendered in the request's language; an explicit ?lang= is remembered in a cookie."""
        choice = await self.locale_of(request)
        html = self._environments[choice.locale].get_template(template).render(
            request=request, languages=language_links(request, choice.locale),
            # An inline <script> runs only with the nonce of the response's Content-Security-Policy (http.py).
            csp_nonce=getattr(request.state, "csp_nonce", ""),
            **{**await layout_context(request), **(context or {})})
        response = HTMLResponse(html, status_code=status_code, headers={
            "Content-Language": language(choice.locale).tag,
            # The same address answers in another language for another header or cookie: caches must know.
            "Vary": "Accept-Language, Cookie"})
        if choice.remember:
            response.set_cookie(LANG_COOKIE, choice.locale, max_age=LANG_COOKIE_MAX_AGE, path="/",
                                samesite="lax", secure=request.url.scheme == "https")
        return response

    def install_error_pages(self, app: FastAPI) -> None:
        """Render what the page dependencies of web.session raise: an anonymous browser is sent to sign in (303:
        after a form's POST too, the browser then GETs the sign-in page), a refusal is a page in the request's
        language."""

        async def sign_in(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, SignInRequired)
            return RedirectResponse(exc.location, status_code=303)

        async def refused(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, PageRefused)
            return await self.render(request, "refused.html", {"reason": exc.message}, status_code=exc.status_code)

        app.add_exception_handler(SignInRequired, sign_in)
        app.add_exception_handler(PageRefused, refused)
