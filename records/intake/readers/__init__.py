"""The built-in readers. Each module registers its reader when imported.

A module listed here that is not present yet is skipped, so readers can land one by one.
"""

from __future__ import annotations

import importlib

BUILTIN = (
    "records.intake.readers.pdf",
    "records.intake.readers.image",
    "records.intake.readers.email_message",
    "records.intake.readers.outlook_msg",
    "records.intake.readers.mbox",
    "records.intake.readers.sms_backup",
    "records.intake.readers.facebook",
    "records.intake.readers.instagram",
    "records.intake.readers.x_archive",
    "records.intake.readers.slack",
    "records.intake.readers.zip_container",
)


def load_builtin() -> None:
    for module in BUILTIN:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
