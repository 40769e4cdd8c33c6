"""Moderation: reports, the moderators' queue, hide/lock/suspend, the audit log.

Blueprint ``moderation``. Also installs the new-account limits (limits.py) and the
``warning_signs`` / ``personal_details`` template helpers the thread pages use.
"""

from flask import Blueprint, Flask

bp = Blueprint("moderation", __name__)


def init_app(app: Flask) -> None:
    from . import limits, models, views  # noqa: F401 - models register their tables

    app.register_blueprint(bp)
    limits.connect()
    views.template_helpers(app)
