"""Experience reports: each member's structured course on azathioprine, per condition,
and "What patients report", the privacy-safe summaries built from them."""

from flask import Blueprint

bp = Blueprint("experiences", __name__)

from . import hooks, views  # noqa: E402,F401
