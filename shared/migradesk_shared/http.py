"""What every service's HTTP side shares: error rendering, health and readiness, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migradesk_shared.errors import MigraDeskError

log = structlog.get_logger("migradesk.http")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def _field_path(loc: tuple[Any, ...]) -> str:
    # FastAPI prefixes the location with "body"/"query"/"path"; the person at the desk needs the field.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MigraDeskError)
    async def _domain_error(request: Request, exc: MigraDeskError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.to_dict())

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


def install_operational_routes(app: FastAPI, readiness: ReadinessCheck) -> None:
    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", tags=["operations"])
    async def ready() -> Response:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(status_code=200 if ok else 503,
                            content={"status": "ready" if ok else "not_ready", "checks": checks})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def service_app(*, title: str, settings: Any, lifespan: Any, router: APIRouter,
                readiness: ReadinessCheck | None = None) -> FastAPI:
    """A service's FastAPI app with what every service has: error rendering, tracing, health, metrics.
    Readiness defaults to the runtime's own check (store reachable; Kafka connected if it consumes)."""
    # FastAPI's own OpenTelemetry middleware would open a second server span (and spans per dependency) for
    # every request under ours, which carries the trace on into Kafka: one is enough.
    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    # Set before start-up too: request dependencies (the token check) read the settings.
    app.state.settings = settings
    install_error_handlers(app)
    install_tracing(app, settings.service_name)

    async def runtime_readiness() -> dict[str, bool]:
        checks: dict[str, bool] = await app.state.runtime.readiness()
        return checks

    install_operational_routes(app, readiness or runtime_readiness)
    app.include_router(router)
    return app
