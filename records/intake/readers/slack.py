"""Slack workspace exports: recognised, not read yet.

A Slack export (export-formats.md, "Slack (optional)") is a zip holding ``users.json``,
``channels.json`` and one folder of ``YYYY-MM-DD.json`` files per channel; re-zipped
exports put all of it one folder down. Until conversations are read, such a zip is
claimed here so the clerk gets a reason to act on ("keep the zip, ingest it again
later") instead of "not a supported file type". Detection looks only at member names.
"""

from __future__ import annotations

from records.intake.model import Extraction, Quarantine, ReadOptions
from records.intake.registry import Reader, Sniff, register

REASON = (
    "Slack workspace export: recognised, not read yet; keep the zip, and ingest the "
    "conversations again once Slack exports are supported"
)
MARKERS = ("channels.json", "users.json")


def is_workspace_export(members: tuple[str, ...] | list[str]) -> bool:
    """``channels.json`` and ``users.json`` side by side, at the root or one folder down."""
    found: dict[str, set[str]] = {}
    for name in members:
        parts = name.split("/")
        if len(parts) > 2 or parts[-1] not in MARKERS:
            continue
        folder = parts[0] if len(parts) == 2 else ""
        found.setdefault(folder, set()).add(parts[-1])
    return any(len(names) == len(MARKERS) for names in found.values())


class SlackExportReader(Reader):
    """Claims Slack workspace export zips and quarantines them with a clear reason."""

    name = "slack"

    def score(self, sniff: Sniff) -> float:
        try:
            return 0.9 if sniff.zip_members and is_workspace_export(sniff.zip_members) else 0.0
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        raise Quarantine("unsupported", REASON)


register(SlackExportReader())
