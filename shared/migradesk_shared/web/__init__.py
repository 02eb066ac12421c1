"""The machinery every service's pages use alike: the language of a request and its catalogs (i18n), the
Jinja2 environments and the FastAPI render helper (templates), the messages every form shows (forms), who is
signed in and the CSRF tokens of their forms (session), and the base layout (templates/base.html) with the
shared catalog (locale/)."""
