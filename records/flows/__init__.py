"""Prefect flows: orchestration only (batching, retries, progress), no business rules.

Importing this package quiets Prefect's telemetry (there is no network here, and failed
telemetry fills the logs), so import it before ``prefect`` itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Without a configured server the first flow run starts a temporary one (prefect-notes.md:
# 11 to 22 s on a quiet machine); Prefect's default 20 s wait is too short on a busy one.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
