"""The one structlog setup: JSON in production, console in development, with trace and case ids.

Personal data (names, documents, contacts, notes) must never be passed to a logger; log ids only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from opentelemetry import trace


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure_logging(service: str, *, json: bool, level: str = "INFO") -> structlog.stdlib.BoundLogger:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    # A JSON line carries an exception as structured frames (`exception`: type, value, and file, line and function
    # of each frame): without it, JSONRenderer drops `exc_info` and the traceback with it. Never the frames' local
    # variables: they hold the person being registered, a password being checked. The console renderer prints
    # tracebacks itself.
    tracebacks = structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(
        show_locals=False))
    renderers: list[Any] = ([tracebacks, structlog.processors.JSONRenderer()] if json
                            else [structlog.dev.ConsoleRenderer(colors=False)])
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Route the standard library's records (uvicorn, aiokafka, FastStream) through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(service).bind(service=service)
    return logger
