"""The site's own pages: about, guidelines, privacy, contact, the favicon and the
first-visit welcome on the home page. Blueprint ``pages``."""

from flask import Blueprint, Flask

bp = Blueprint("pages", __name__)


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401 - registers the routes on bp

    app.register_blueprint(bp)
    app.context_processor(views.welcome_context)
