"""Structured log lines for operators: what ran, how much, how long; never record content.

``RECORDS_LOG_FORMAT=json`` prints one JSON object a line on stderr (for a log shipper,
a Prefect worker, cron mail); ``console`` prints ``key=value`` lines for a person.
With a format set the level defaults to ``info``; without one nothing is logged, so a
clerk's terminal shows the command's own one-line error and nothing else (cli.md).
``RECORDS_LOG_LEVEL`` (``debug``, ``info``, ``warning``, ``error``) overrides either.

Lines carry ids, counts, statuses, durations and error kinds. A record's text, subject,
participants, file names and paths stay out (they are personal data, and logs are copied
to places retention never reaches): ``_no_content`` drops any such field a caller passes
by mistake, and the tests search the log lines for the fixtures' text.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

# Field names that would carry content or personal data: never logged, whoever passes them.
CONTENT_FIELDS = frozenset({"text", "body", "content", "subject", "participants", "path", "paths", "file", "name", "filename", "message_text"})
_configured: tuple[str, str] | None = None


def _no_content(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in [k for k in event if k in CONTENT_FIELDS]:
        event.pop(key)
    return event


def _drop(_logger: Any, _method: str, _event: dict[str, Any]) -> dict[str, Any]:
    raise structlog.DropEvent


def configure() -> None:
    """Set structlog up from the environment (again when the environment changed)."""
    global _configured
    fmt = (os.environ.get("RECORDS_LOG_FORMAT") or "").strip().lower()
    level_name = (os.environ.get("RECORDS_LOG_LEVEL") or ("info" if fmt else "off")).strip().lower()
    if _configured == (fmt, level_name):
        return
    off = level_name == "off"
    level = logging.CRITICAL if off else logging.getLevelNamesMapping().get(level_name.upper(), logging.INFO)
    renderer: Any = structlog.processors.JSONRenderer(sort_keys=True) if fmt == "json" else structlog.processors.KeyValueRenderer(key_order=["at", "level", "event"])
    structlog.configure(
        processors=[
            *([_drop] if off else []),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True, key="at"),
            _no_content,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # sys.stderr looked up for each logger, not once: tests and the CLI runner swap it.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = (fmt, level_name)


def get(component: str) -> Any:
    """A logger whose lines name their component (``ingest``, ``disposal``, ``nightly``...)."""
    configure()
    return structlog.get_logger().bind(component=component, pid=os.getpid())


__all__ = ["CONTENT_FIELDS", "configure", "get"]
