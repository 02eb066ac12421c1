"""What every service's HTTP side shares: error rendering, health and readiness, Prometheus metrics, and the
hardening every response gets (security headers, a request size limit, no public API documentation or metrics
in a deployment)."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migradesk_shared.errors import MigraDeskError
from migradesk_shared.settings import Environment, ServiceSettings

log = structlog.get_logger("migradesk.http")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]

DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
# The slip's print button (referral's slip.html) is the one inline event handler of the pages; CSP allows an
# inline handler only by the hash of its exact source. Any other inline script carries the response's nonce.
INLINE_HANDLER_HASHES = ("'sha256-MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU='",)  # window.print()


def _field_path(loc: tuple[Any, ...]) -> str:
    # FastAPI prefixes the location with "body"/"query"/"path"; the person at the desk needs the field.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


class ErrorOut(BaseModel):
    """Every refusal of the APIs: a code, a message naming what is wrong, the field when there is one."""

    error: str
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None


class FieldErrorOut(BaseModel):
    field: str
    message: str
    type: str


class ValidationErrorOut(BaseModel):
    """A request whose fields do not fit: each field named, with what is wrong with it."""

    error: str
    message: str
    errors: list[FieldErrorOut]


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"description": description, "model": model}


# What any API route may answer besides its success, whatever it does: a body that cannot be read, no or a bad
# token, a role or agency without access, what it names not found, a conflict with what is stored, a body over
# the size limit, fields that do not fit, too many requests.
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The request could not be read (its body, or a rule of the domain it breaks)"),
    401: _error("No valid access token, or no session"),
    403: _error("The caller's role or agency gives no access to this"),
    404: _error("What the request names does not exist"),
    409: _error("It conflicts with what is stored (changed meanwhile, already there)"),
    413: _error("The request body is larger than the limit"),
    # The request's fields, each named (ValidationErrorOut); or a value the domain refuses, with its field.
    422: _error("Fields that do not fit, or a value the domain refuses: named, with what is wrong",
                ValidationErrorOut | ErrorOut),  # type: ignore[arg-type]
    429: _error("Too many requests: try again after Retry-After seconds"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MigraDeskError)
    async def _domain_error(request: Request, exc: MigraDeskError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.to_dict())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The framework's own refusals (a body that is not JSON, an unknown path, a method not allowed) in the
        # same shape as ours, so a client reads every refusal one way.
        codes = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "request_too_large"}
        return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None), content={
            "error": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": "body" if e.get("type") == "json_invalid" else _field_path(tuple(e.get("loc", ()))),
                   "message": e.get("msg", "invalid"), "type": e.get("type", "")} for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return JSONResponse(status_code=422, content={
            "error": "validation_failed", "message": f"invalid fields: {fields}", "errors": errors})


class TracingMiddleware:
    """One SERVER span per request, continuing the caller's W3C trace context; events written while handling
    the request store that context in the outbox, so the trace follows them through Kafka. A plain ASGI
    middleware: Starlette's BaseHTTPMiddleware costs a task and a stream per request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.tracer_name = f"migradesk.{service}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/health", "/metrics")):
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        ctx = propagate.extract(carrier)
        # The global provider is set by configure_tracing at start-up; until then spans are no-ops.
        tracer = trace.get_tracer(self.tracer_name)
        with tracer.start_as_current_span(f"{scope['method']} {scope['path']}", context=ctx,
                                          kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", scope["method"])

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_with_status)


def install_tracing(app: FastAPI, service: str) -> None:
    app.add_middleware(TracingMiddleware, service=service)


def content_security_policy(nonce: str, form_origins: list[str]) -> str:
    """The pages are rendered on the server: scripts from this origin, or inline with this response's nonce;
    styles inline (every page has a <style> block); forms go to this origin and to the other services' pages
    the settings name (intake's sign-in sends a person on to the inbox or the dashboard); no framing."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' 'unsafe-hashes' {' '.join(INLINE_HANDLER_HASHES)}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        " ".join(["form-action 'self'", *form_origins]),
    ])


class SecurityHeadersMiddleware:
    """Headers every response carries: a Content-Security-Policy with a fresh script nonce (templates read it as
    `csp_nonce`; web.templates passes request.state.csp_nonce), no MIME sniffing, no framing, and no referrer
    sent to other sites (a case's address names its id). The interactive API documentation loads its scripts
    from a CDN and inline: it gets the other headers only (and is off in a deployment)."""

    def __init__(self, app: ASGIApp, form_origins: list[str], public_docs: bool) -> None:
        self.app = app
        self.form_origins = form_origins
        self.public_docs = public_docs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        # The server gives each request its own copy of the state; middlewares further out read what is put in it.
        scope.setdefault("state", {})["csp_nonce"] = nonce
        headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin")]
        path: str = scope["path"]
        if not (self.public_docs and (path in DOCS_PATHS or path.startswith("/docs/"))):
            policy = content_security_policy(nonce, self.form_origins)
            headers.append((b"content-security-policy", policy.encode("latin-1")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestTooLarge(Exception):
    """Raised to the app reading a body past the limit; the 413 has already been sent."""


# Where a request may carry a document (a POST to a record's `.../attachments`): the larger upload limit.
UPLOAD_PATH = re.compile(r"^/(api/)?[a-z-]+/[^/]+/attachments$")


class RequestSizeLimitMiddleware:
    """Refuses a request body larger than `limit` bytes with 413, before any route reads it: by its
    Content-Length, and by counting a body sent without one (chunked) as the app receives it. A document upload
    (a POST to an `UPLOAD_PATH`) may be as large as `upload_limit`."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = max(limit, upload_limit or limit)

    @staticmethod
    def _refusal(limit: int) -> tuple[Message, Message]:
        body = json.dumps({"error": "request_too_large",
                           "message": f"the request body is larger than the limit of {limit} bytes",
                           "details": {"limit_bytes": limit}}).encode()
        return ({"type": "http.response.start", "status": 413,
                 "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                             (b"connection", b"close")]},
                {"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")) is not None
        limit = self.upload_limit if upload else self.limit
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            for message in self._refusal(limit):
                await send(message)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    if not started:
                        for reply in self._refusal(limit):
                            await send(reply)
                    raise RequestTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out: whatever the app answers to the cut-off body is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not refused:
                raise


def install_hardening(app: FastAPI, settings: ServiceSettings) -> None:
    # The later added, the further out: a body too large is refused before tracing or any route sees it, and
    # even that refusal carries the headers.
    app.add_middleware(RequestSizeLimitMiddleware, limit=settings.max_request_bytes,
                       upload_limit=settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware, form_origins=settings.page_origins(),
                       public_docs=settings.public_docs)


def metrics_refusal(request: Request, settings: ServiceSettings) -> Response | None:
    """Prometheus' scrape needs the bearer token when one is set; without one, /metrics is served in development
    only (elsewhere it is not part of the public surface: 404). None: serve it."""
    token = settings.metrics_token.get_secret_value()
    if not token:
        if settings.environment is Environment.DEVELOPMENT:
            return None
        return JSONResponse(status_code=404, content={"error": "not_found", "message": "Not Found"})
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return JSONResponse(status_code=401, headers={"WWW-Authenticate": "Bearer"}, content={
        "error": "unauthenticated", "message": "send the metrics token: Authorization: Bearer <token>",
        "field": "Authorization"})


def install_operational_routes(app: FastAPI, readiness: ReadinessCheck) -> None:
    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", tags=["operations"],
             responses={503: {"description": "A dependency is not reachable: the checks say which"}})
    async def ready() -> Response:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(status_code=200 if ok else 503,
                            content={"status": "ready" if ok else "not_ready", "checks": checks})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        refusal = metrics_refusal(request, request.app.state.settings)
        if refusal is not None:
            return refusal
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def service_app(*, title: str, settings: ServiceSettings, lifespan: Any, router: APIRouter,
                readiness: ReadinessCheck | None = None) -> FastAPI:
    """A service's FastAPI app with what every service has: error rendering, tracing, health, metrics.
    Readiness defaults to the runtime's own check (store reachable; Kafka connected if it consumes)."""
    # FastAPI's own OpenTelemetry middleware would open a second server span (and spans per dependency) for
    # every request under ours, which carries the trace on into Kafka: one is enough.
    docs = settings.public_docs
    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan, openapi_url="/openapi.json" if docs else None,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    # Set before start-up too: request dependencies (the token check) read the settings.
    app.state.settings = settings
    install_error_handlers(app)
    install_tracing(app, settings.service_name)
    install_hardening(app, settings)

    async def runtime_readiness() -> dict[str, bool]:
        checks: dict[str, bool] = await app.state.runtime.readiness()
        return checks

    install_operational_routes(app, readiness or runtime_readiness)
    app.include_router(router)
    return app
