"""Recording an experience report through the real form: saving, updating, history,
validation (refusals, questions, kept input), attaching to a question, privacy of weight."""

from __future__ import annotations

import re
from datetime import date, timedelta

from forum.experiences import service
from forum.experiences.models import ExperienceReport, ExperienceRevision
from forum.extensions import db
from tests import factories
from tests.conftest import csrf_from

EDIT = "/experiences/lupus/edit"


def form_data(client, path=EDIT, **fields):
    """A blank form as the browser would send it, plus ``fields``."""
    data = {"csrf_token": csrf_from(client.get(path).get_data(as_text=True))}
    data["include_in_summaries"] = "y"
    data["show_on_profile"] = "y"
    data.update({k: v for k, v in fields.items() if v is not None})
    return data


def weeks_ago(n: int) -> str:
    return (date.today() - timedelta(weeks=n)).isoformat()


def sign_in(auth, name="aza_user"):
    user = factories.user(name)
    auth.login(name)
    return user


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get("/experiences").status_code == 302
    assert "/login" in client.get(EDIT).headers["Location"]


def test_record_a_report_with_steps_and_side_effects(client, auth):
    user = sign_in(auth)
    resp = client.post(
        EDIT,
        data=form_data(
            client,
            started_on=weeks_ago(18),
            dose_mg_per_day="100",
            tpmt="normal",
            blood_test_frequency="monthly",
            **{
                "steps-0-week": "0",
                "steps-0-dose_mg": "50",
                "steps-1-week": "4",
                "steps-1-dose_mg": "100",
                "side_effects-0-side_effect": "nausea",
                "side_effects-0-severity": "mild",
                "side_effects-0-began_week": "1",
                "side_effects-0-settled": "yes",
                "side_effects-0-settled_week": "4",
                "co_medications": ["hydroxychloroquine", "prednisolone"],
            },
        ),
        follow_redirects=True,
    )
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert (
        "Lupus (SLE), 18 weeks on aza, 100 mg/day, TPMT normal, "
        "nausea and vomiting settled by week 4" in page
    )
    report = service.get_report(user, "lupus")
    assert [(s.week, s.dose_mg) for s in report.steps] == [(0, 50), (4, 100)]  # blanks ignored
    assert [se.side_effect for se in report.side_effects] == ["nausea"]
    assert report.co_medication_slugs == ["hydroxychloroquine", "prednisolone"]
    assert report.include_in_summaries is True


def test_update_keeps_history_as_a_timeline(client, auth):
    user = sign_in(auth)
    client.post(EDIT, data=form_data(client, dose_mg_per_day="50", tpmt="normal"))
    client.post(
        EDIT,
        data=form_data(
            client,
            dose_mg_per_day="100",
            tpmt="normal",
            **{"side_effects-0-side_effect": "hair-loss", "side_effects-0-severity": "mild"},
        ),
    )
    reports = db.session.query(ExperienceReport).filter_by(user_id=user.id).all()
    assert len(reports) == 1 and reports[0].dose_mg_per_day == 100  # one report per condition
    assert db.session.query(ExperienceRevision).filter_by(report_id=reports[0].id).count() == 2
    page = client.get("/experiences").get_data(as_text=True)
    assert "Dose: 50 mg/day → 100 mg/day" in page
    assert "New side effect: hair loss" in page
    assert "first recorded" in page


def test_edit_form_shows_saved_answers(client, auth):
    sign_in(auth)
    client.post(
        EDIT,
        data=form_data(
            client, dose_mg_per_day="75", **{"steps-0-week": "2", "steps-0-dose_mg": "50"}
        ),
    )
    page = client.get(EDIT).get_data(as_text=True)
    assert re.search(r'name="dose_mg_per_day"[^>]*value="75', page)
    assert re.search(r'name="steps-0-week"[^>]*value="2"', page)
    # Six rows, filled or not, are always on offer (no JavaScript needed).
    assert 'name="steps-5-week"' in page and 'name="side_effects-5-side_effect"' in page
    assert 'name="steps-6-week"' not in page


def test_impossible_values_are_refused_and_input_kept(client, auth):
    user = sign_in(auth)
    resp = client.post(
        EDIT,
        data=form_data(
            client,
            dose_mg_per_day="5000",
            started_on=(date.today() + timedelta(days=10)).isoformat(),
            helped_after_weeks="600",
            tpmt="intermediate",
            **{"steps-1-week": "-3", "steps-1-dose_mg": "50", "steps-2-week": "8"},
        ),
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "A daily dose must be more than 0 and at most 1000 mg." in page
    assert "Weeks cannot be negative." in page
    assert service.get_report(user, "lupus") is None  # nothing half-written
    assert re.search(r'name="dose_mg_per_day"[^>]*value="5000', page)  # input kept
    assert re.search(r'<option selected value="intermediate">|value="intermediate" selected', page)


def test_service_refuses_future_dates_and_weeks_past_ten_years(client, auth):
    sign_in(auth)
    resp = client.post(
        EDIT,
        data=form_data(
            client,
            started_on=(date.today() + timedelta(days=10)).isoformat(),
            helped_after_weeks="600",
            **{"steps-2-week": "8"},
        ),
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "That date is in the future." in page
    assert "Give a week between 0 and 520 (ten years)." in page
    assert "Give the dose for this step." in page  # a row with a week but no dose


def test_unusual_dose_is_questioned_then_saved_when_confirmed(client, auth):
    user = sign_in(auth)
    data = form_data(client, dose_mg_per_day="10", started_on=weeks_ago(3))
    resp = client.post(EDIT, data=data)
    page = resp.get_data(as_text=True)
    assert (
        "That looks unusual — please check; tick &#39;yes, that&#39;s right&#39; to save it" in page
    )
    assert 'name="dose_confirmed"' in page
    assert service.get_report(user, "lupus") is None
    assert re.search(r'name="started_on"[^>]*value="' + weeks_ago(3), page)
    data["dose_confirmed"] = "y"
    resp = client.post(EDIT, data=data)
    assert resp.status_code == 302
    assert service.get_report(user, "lupus").dose_mg_per_day == 10


def test_dose_per_kilogram_above_usual_is_questioned(client, auth):
    user = sign_in(auth)
    resp = client.post(EDIT, data=form_data(client, dose_mg_per_day="250", weight_kg="60"))
    assert "That looks unusual" in resp.get_data(as_text=True)  # 4.2 mg/kg
    assert service.get_report(user, "lupus") is None
    client.post(EDIT, data=form_data(client, dose_mg_per_day="150", weight_kg="60"))
    assert service.get_report(user, "lupus").mg_per_kg == 2.5


def test_weight_is_never_shown(client, auth):
    user = sign_in(auth, "weighty")
    thread = factories.thread(user, title="Does the dose depend on weight?")
    client.post(
        EDIT,
        data=form_data(client, dose_mg_per_day="150", weight_kg="73.4", thread_id=str(thread.id)),
    )
    report = service.get_report(user, "lupus")
    assert report.weight_kg == 73.4
    pages = [
        "/experiences",
        EDIT,
        "/u/weighty",
        f"/t/{thread.id}",
        "/reports",
        "/api/v1/stats",
        "/reports.csv",
    ]
    for path in pages:
        body = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert "73.4" not in body, path
        assert "73" not in re.sub(r"[^0-9.]+", " ", body).split(), path
    # Saving again with the weight left blank keeps it (it is never sent back to the form).
    client.post(EDIT, data=form_data(client, dose_mg_per_day="150"))
    assert service.get_report(user, "lupus").weight_kg == 73.4
    client.post(EDIT, data=form_data(client, dose_mg_per_day="150", forget_weight="y"))
    assert service.get_report(user, "lupus").weight_kg is None
    assert "73.4" not in service.experience_to_dict(report) and "weight_kg" not in str(
        service.experience_to_dict(report)
    )


def test_summary_beside_the_question_when_attached(client, auth):
    user = sign_in(auth)
    thread = factories.thread(user, title="Nausea in the first month")
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Attach your experience report" in page  # offered to the asker only
    client.post(
        EDIT,
        data=form_data(
            client,
            started_on=weeks_ago(18),
            dose_mg_per_day="100",
            tpmt="normal",
            thread_id=str(thread.id),
            **{
                "side_effects-0-side_effect": "nausea",
                "side_effects-0-settled": "yes",
                "side_effects-0-settled_week": "4",
            },
        ),
    )
    auth.logout()
    page = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "The asker&#39;s experience so far" in page or "The asker's experience so far" in page
    assert (
        "Lupus (SLE), 18 weeks on aza, 100 mg/day, TPMT normal, "
        "nausea and vomiting settled by week 4" in page
    )
    other = factories.thread(title="Someone else's question")
    assert "weeks on aza" not in client.get(f"/t/{other.id}").get_data(as_text=True)


def test_cannot_attach_to_someone_elses_question(client, auth):
    user = sign_in(auth)
    other = factories.thread(title="Not mine")
    resp = client.post(EDIT, data=form_data(client, thread_id=str(other.id)))
    assert resp.status_code == 400
    assert service.get_report(user, "lupus") is None


def test_profile_shows_summary_only_when_allowed(client, auth):
    sign_in(auth, "profiled")
    client.post(EDIT, data=form_data(client, dose_mg_per_day="125", tpmt="low"))
    page = client.get("/u/profiled").get_data(as_text=True)
    assert "125 mg/day, TPMT low" in page
    data = form_data(client, dose_mg_per_day="125", tpmt="low")
    del data["show_on_profile"]
    client.post(EDIT, data=data)
    assert "125 mg/day" not in client.get("/u/profiled").get_data(as_text=True)


def test_delete_report_removes_it_and_its_history(client, auth):
    user = sign_in(auth)
    client.post(EDIT, data=form_data(client, dose_mg_per_day="100"))
    token = csrf_from(client.get(EDIT).get_data(as_text=True))
    resp = client.post("/experiences/lupus/delete", data={"csrf_token": token})
    assert resp.status_code == 302
    assert service.get_report(user, "lupus") is None
    assert db.session.query(ExperienceRevision).count() == 0


def test_unknown_condition_is_404(client, auth):
    sign_in(auth)
    assert client.get("/experiences/not-a-condition/edit").status_code == 404


def test_import_and_export_of_the_experience_object(app):
    user = factories.user("importer")
    thread = factories.thread(user, conditions=("crohns",))
    report = service.experience_from_dict(
        user,
        thread,
        {
            "started": "2024-03-01",
            "dose_mg_per_day": 125,
            "weight_kg": 70,
            "tpmt": "not tested",
            "outcome": "stopped",
            "stop_reason": "side effects",
            "moved_to": "mercaptopurine",
            "moved_to_outcome": "better",
            "titration": [{"week": 0, "dose_mg": 50}, {"week": 4, "dose_mg": 125}],
            "side_effects": [{"name": "hair thinning", "severity": "moderate", "began_week": 8}],
            "co_medications": ["Pentasa"],
        },
    )
    assert report.condition == "crohns"  # from the thread's tags
    assert report.thread_id == thread.id and report.tpmt == "not_tested"
    assert [se.side_effect for se in report.side_effects] == ["hair-loss"]
    out = service.experience_to_dict(report)
    assert out["condition"] == "crohns" and out["dose_mg_per_day"] == 125
    assert out["titration"] == [{"week": 0, "dose_mg": 50}, {"week": 4, "dose_mg": 125}]
    assert "weight_kg" not in out
    private = service.experience_to_dict(report, include_private=True)
    assert private["weight_kg"] == 70  # the owner's own download only
    assert [h["report"]["dose_mg_per_day"] for h in private["history"]] == [125]


def test_attached_report_feeds_search_facets(app):
    from forum.models import SearchChange
    from forum.search.documents import thread_document

    user = factories.user("faceted")
    thread = factories.thread(user, title="Moved on from aza")
    before = db.session.query(SearchChange).filter_by(thread_id=thread.id).count()
    data = {"tpmt": "intermediate", "outcome": "stopped", "stop_reason": "side_effects"}
    data.update(moved_to="biologic", thread_id=thread.id, steps=[], side_effects=[])
    service.save_report(user, "lupus", data)
    # The change is recorded for the index in the same transaction.
    assert db.session.query(SearchChange).filter_by(thread_id=thread.id).count() == before + 1
    doc = thread_document(thread)
    assert (doc["tpmt"], doc["outcome"], doc["moved_to"]) == ("intermediate", "stopped", "biologic")
    service.delete_report(user, "lupus")
    assert thread_document(thread)["tpmt"] == ""


def test_import_export_files_carry_the_experience_object(app, runner, tmp_path):
    import json

    lines = [
        {
            "title": "Starting aza after a TPMT result of intermediate",
            "body": "My team says 50 mg. Anyone else?",
            "author": "file_person",
            "created": "2025-03-02T10:15:00Z",
            "conditions": ["RA"],
            "experience": {
                "started": "2025-02-01",
                "dose_mg_per_day": 50,
                "tpmt": "intermediate",
                "side_effects": [{"name": "feeling sick", "severity": "mild", "began_week": 1}],
            },
        },
        {  # an old-style line, no experience: imports as before
            "title": "A plain old question",
            "body": "No experience here.",
            "author": "old_style",
            "conditions": ["Lupus"],
        },
        {  # an impossible experience: the thread imports, the experience is skipped
            "title": "Typo in my dose",
            "body": "Oops.",
            "author": "typo_person",
            "conditions": ["Lupus"],
            "experience": {"dose_mg_per_day": 5000},
        },
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = runner.invoke(args=["forum", "import", str(src)])
    assert result.exit_code == 0, result.output
    assert "line 3: warning: experience skipped" in result.output
    from forum.models import User

    report = service.get_report(User.by_name("file_person"), "rheumatoid-arthritis")
    assert report.tpmt == "intermediate" and report.thread.title.startswith("Starting aza")
    assert service.get_report(User.by_name("typo_person"), "lupus") is None

    out = tmp_path / "out.jsonl"
    assert runner.invoke(args=["forum", "export", str(out)]).exit_code == 0
    exported = {d["title"]: d for d in map(json.loads, out.read_text().splitlines())}
    exp = exported["Starting aza after a TPMT result of intermediate"]["experience"]
    assert exp["condition"] == "rheumatoid-arthritis" and exp["dose_mg_per_day"] == 50
    assert exp["side_effects"] == [{"name": "nausea", "severity": "mild", "began_week": 1}]
    assert "experience" not in exported["A plain old question"]


def test_odd_input_is_refused_never_a_server_error(client, auth):
    user = sign_in(auth)
    odd = [
        {"dose_mg_per_day": "nan"},
        {"dose_mg_per_day": "1e400", "dose_confirmed": "y"},
        {"dose_mg_per_day": "abc"},
        {"weight_kg": "inf"},
        {"thread_id": "not-a-number"},
        {"thread_id": "999999"},
        {"started_on": "2024-13-45"},
        {"tpmt": "purple"},
        {"co_medications": ["made-up-pill"]},
        {"steps-0-week": "99999999999999999999", "steps-0-dose_mg": "50"},
        {"side_effects-0-side_effect": "not-a-side-effect"},
        {"side_effects-0-severity": "catastrophic", "side_effects-0-side_effect": "rash"},
    ]
    for fields in odd:
        resp = client.post(EDIT, data=form_data(client, **fields))
        assert resp.status_code == 400, fields
    assert service.get_report(user, "lupus") is None
    assert client.get("/experiences/new?condition=nope").status_code == 404
    assert client.get("/reports/threads?side_effect=nope").status_code == 400
