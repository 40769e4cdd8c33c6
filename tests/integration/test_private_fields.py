"""Private fields of an experience report never leave their owner (issue 12 item 5): the
weight and the "only you see this" stop reason are in the owner's own download only."""

from __future__ import annotations

import json

from forum.experiences import service as experiences
from forum.experiences.models import PRIVATE_FIELDS
from tests import factories as f

SECRET_NOTE = "quillwort bruising"
WEIGHT = 63.7


def _private_report():
    owner = f.user("private_pat")
    thread = f.thread(owner, title="Stopped after bruising", conditions=("lupus",))
    data = {"dose_mg_per_day": 100, "weight_kg": WEIGHT, "outcome": "stopped",
            "stop_reason": "other", "stop_reason_other": SECRET_NOTE,
            "thread_id": thread.id, "steps": [], "side_effects": []}  # fmt: skip
    report = experiences.save_report(owner, "lupus", data, confirmed=True)
    assert report.stop_reason_other == SECRET_NOTE and report.weight_kg == WEIGHT
    return owner, thread


def test_forum_export_never_carries_private_fields(runner, tmp_path):
    _, thread = _private_report()
    out = tmp_path / "export.jsonl"
    result = runner.invoke(args=["forum", "export", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    line = json.loads(text.splitlines()[0])
    assert line["title"] == thread.title
    assert line["experience"]["stop_reason"] == "other"  # the public choice is exported
    assert SECRET_NOTE not in text and str(WEIGHT) not in text
    assert not set(PRIVATE_FIELDS) & set(line["experience"])


def test_private_fields_stay_off_every_page_and_api_others_read(client, auth):
    owner, thread = _private_report()
    f.user("curious_cal")
    auth.login("curious_cal")
    for path in (f"/t/{thread.id}", f"/u/{owner.display_name}", f"/api/v1/threads/{thread.id}",
                 "/reports/lupus", "/search?q=quillwort", "/feeds/latest.atom"):  # fmt: skip
        body = client.get(path).get_data(as_text=True)
        assert SECRET_NOTE not in body and str(WEIGHT) not in body, path


def test_the_owner_download_carries_them(client, auth):
    _private_report()
    auth.login("private_pat")
    data = json.loads(client.get("/account/data").get_data(as_text=True))
    report = data["experience_reports"][0]
    assert report["stop_reason_other"] == SECRET_NOTE and report["weight_kg"] == WEIGHT
