"""(filled in by issue 5)"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprint."""
