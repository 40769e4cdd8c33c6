"""Relevance floor on the judged sample (../shared/search-eval): regressions fail CI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = ROOT / ".." / "shared" / "search-eval"


def _bench():
    spec = importlib.util.spec_from_file_location(
        "search_quality", ROOT / "bench" / "search_quality.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not EVAL_DIR.exists(), reason="judged sample not available")
def test_quality_floor_on_the_judged_sample():
    result = _bench().evaluate(EVAL_DIR, systems=("forum",))["forum"]
    ndcg_all = result["all"][0]
    assert ndcg_all >= 0.85, result
    for kind, (ndcg, _recall, _mrr, _n) in result.items():
        assert ndcg >= 0.75, (kind, result)
