"""Search: the only package that imports whoosh. (Filled in by the search work.)"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register search hooks, commands and pages."""
