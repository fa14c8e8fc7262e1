"""The built-in readers. Each module registers its reader when imported."""

from __future__ import annotations

import importlib

BUILTIN = ("records.intake.readers.pdf", "records.intake.readers.image")


def load_builtin() -> None:
    for module in BUILTIN:
        importlib.import_module(module)
