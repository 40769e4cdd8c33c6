"""Reading and writing threads."""

from flask import render_template

from . import bp
from .queries import list_threads


@bp.get("/")
def index():
    page = list_threads()
    return render_template("threads/index.html", page=page)
