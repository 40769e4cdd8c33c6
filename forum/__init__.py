"""The azathioprine patient forum."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, then the first-start bootstrap."""
    instance_path = os.environ.get("FORUM_INSTANCE_PATH") or str(ROOT / "instance")
    if test_config and test_config.get("INSTANCE_PATH"):
        instance_path = test_config["INSTANCE_PATH"]
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from . import settings

    settings.load(app, test_config)
    from . import instance_files

    instance_files.log_problems(app)  # root-owned files left by a maintenance command

    from . import web

    web.init_app(app)
    from . import bootstrap

    bootstrap.init_app(app)
    return app
