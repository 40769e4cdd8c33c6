"""Addresses of threads and topic pages, for notifications, emails and feeds.

The thread and topic pages belong to the threads blueprint; these helpers ask it by
endpoint and fall back to the documented paths while those pages are being built.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request, url_for
from werkzeug.routing import BuildError

TOPIC_PATHS = {
    "condition": "conditions",
    "side_effect": "side-effects",
    "medication": "medications",
}


def _try(endpoints: tuple[str, ...], fallback: str, **values) -> str:
    for endpoint in endpoints:
        try:
            return url_for(endpoint, **values)
        except (BuildError, RuntimeError):
            continue
    return fallback


def thread_url(thread_id: int, post_id: int | None = None) -> str:
    path = _try(
        ("threads.show", "threads.thread", "threads.view"),
        f"/t/{thread_id}",
        thread_id=thread_id,
    )
    return f"{path}#post-{post_id}" if post_id else path


def topic_url(kind: str, slug: str) -> str:
    return _try(
        (f"threads.{kind}", f"threads.{TOPIC_PATHS[kind].replace('-', '_')}"),
        f"/{TOPIC_PATHS[kind]}/{slug}",
        slug=slug,
    )


def ask_url() -> str:
    return _try(("threads.ask",), "/ask")


def base_url() -> str:
    """Scheme and host for links leaving the site (emails, feeds)."""
    configured = current_app.config.get("SITE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://localhost:5000"


def external(path: str) -> str:
    return path if path.startswith("http") else base_url() + path
