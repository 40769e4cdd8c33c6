"""A person's own data: download it as JSON (/account/data) or erase the account
(/account/delete). Blueprint ``privacy``."""

from flask import Blueprint, Flask

bp = Blueprint("privacy", __name__)


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401 - registers the routes on bp

    app.register_blueprint(bp)
