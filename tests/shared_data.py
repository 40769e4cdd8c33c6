"""Data that lives outside the repository (``../shared`` beside the checkout), for tests only.

The product never reads ``../shared``. A test that uses it calls ``require`` (or takes the
``shared_sample`` fixture from tests/conftest.py): when the data is missing the test skips
with a reason that names the path, and under ``CI=true`` it fails instead, so CI cannot
pass by silently skipping. ``SEARCH_EVAL_DIR`` points at another copy of the judged
search sample; ``FORUM_SHARED_DIR`` at another ``shared`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import pgtools

ROOT = Path(__file__).resolve().parents[1]
SKIP_PREFIX = "shared data not available"


def shared_dir() -> Path:
    """The ``shared`` folder beside the checkout (or ``FORUM_SHARED_DIR``); may not exist."""
    return Path(os.environ.get("FORUM_SHARED_DIR") or ROOT.parent / "shared")


def search_eval_dir() -> Path:
    """The judged search sample (corpus.jsonl, queries, judgements); may not exist."""
    override = os.environ.get("SEARCH_EVAL_DIR")
    return Path(override) if override else shared_dir() / "search-eval"


def available(path: Path) -> bool:
    return path.exists()


def require(path: Path) -> Path:
    """``path`` when it exists; otherwise skip with the path in the reason (fail in CI)."""
    if available(path):
        return path
    reason = f"{SKIP_PREFIX}: {path} is missing (set SEARCH_EVAL_DIR or FORUM_SHARED_DIR)"
    if pgtools.in_ci():
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)
