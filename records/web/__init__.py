"""The web app: server-rendered pages for clerks, officers, auditors and admins.

It holds no business rule: every page calls the storage services and flows the command
line calls, with the signed-in user as the actor, and ``authorize()`` decides every change.
"""

from records.web.app import create_app

__all__ = ["create_app"]
