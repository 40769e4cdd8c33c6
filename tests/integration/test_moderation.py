"""Reports, the moderators' queue, hiding, locking, suspension, roles and the audit log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from forum import signals
from forum.extensions import db
from forum.models import Post, SearchChange, Thread, User
from forum.moderation.models import ModerationAction, Report
from tests import factories as f
from tests.conftest import csrf_from


def _post_form(client, path, data=None, page="/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


def _setup():
    author = f.user("asker")
    other = f.user("replier")
    mod = f.user("mod_mo", role="moderator")
    t = f.thread(author, title="Hair thinning on aza", replies=[(other, "Spammy reply buy pills")])
    return author, other, mod, t


def test_member_reports_a_post_and_moderator_sees_it_in_the_queue(client, auth):
    author, other, mod, t = _setup()
    reply = t.posts[1]
    auth.login("asker")
    page = client.get(f"/posts/{reply.id}/report")
    assert page.status_code == 200 and "Unsafe advice" in page.get_data(as_text=True)
    resp = _post_form(
        client,
        f"/posts/{reply.id}/report",
        {"reason": "spam", "note": "selling pills"},
        page=f"/posts/{reply.id}/report",
    )
    assert resp.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1
    # no reason: refused with a message, nothing stored
    resp = _post_form(client, f"/posts/{reply.id}/report", {"reason": "bogus"})
    assert resp.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1

    assert client.get("/moderation").status_code == 403  # members cannot see the queue
    auth.logout()
    auth.login("mod_mo")
    queue = client.get("/moderation")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert "selling pills" in html and "Spammy reply" in html
    assert queue.headers["Cache-Control"] == "no-store"


def test_hide_reply_hides_it_from_members_and_records_search_change(client, auth, app):
    author, other, mod, t = _setup()
    reply = t.posts[1]
    before = db.session.scalar(select(func.count()).select_from(SearchChange))
    seen = []
    signals.moderation_action.connect(lambda _a, **kw: seen.append(kw["action"]), weak=False)
    auth.login("mod_mo")
    resp = _post_form(client, f"/moderation/posts/{reply.id}/hide", {"reason": "spam"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Post, reply.id).is_hidden
    assert db.session.get(Thread, t.id).reply_count == 0
    assert db.session.scalar(select(func.count()).select_from(SearchChange)) > before
    assert "hide" in seen
    # moderators still see it, labelled
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Spammy reply" in html and "Hidden" in html
    auth.logout()
    auth.login("asker")
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Spammy reply" not in html
    assert "This post was removed" in html
    entry = db.session.scalar(select(ModerationAction))
    assert entry.action == "hide_post" and entry.reason == "spam"


def test_hidden_thread_is_gone_for_members_and_anonymous_but_not_moderators(client, auth):
    author, other, mod, t = _setup()
    auth.login("mod_mo")
    _post_form(client, f"/moderation/threads/{t.id}/hide")
    assert client.get(f"/t/{t.id}").status_code == 200
    auth.logout()
    assert client.get(f"/t/{t.id}").status_code == 404
    assert "Hair thinning on aza" not in client.get("/").get_data(as_text=True)
    auth.login("asker")
    assert client.get(f"/t/{t.id}").status_code == 404
    auth.logout()
    auth.login("mod_mo")
    _post_form(client, f"/moderation/threads/{t.id}/unhide")
    auth.logout()
    assert client.get(f"/t/{t.id}").status_code == 200


def test_lock_thread_refuses_replies(client, auth):
    author, other, mod, t = _setup()
    auth.login("mod_mo")
    assert _post_form(client, f"/moderation/threads/{t.id}/lock").status_code == 302
    auth.logout()
    auth.login("replier")
    resp = _post_form(client, f"/t/{t.id}/reply", {"body": "another reply"}, page=f"/t/{t.id}")
    assert resp.status_code == 403
    db.session.expire_all()
    assert len(db.session.get(Thread, t.id).posts) == 2


def test_members_cannot_moderate(client, auth):
    author, other, mod, t = _setup()
    auth.login("replier")
    for path in (
        f"/moderation/threads/{t.id}/hide",
        f"/moderation/threads/{t.id}/lock",
        f"/moderation/posts/{t.posts[1].id}/hide",
        f"/moderation/users/{author.id}/suspend",
    ):
        assert _post_form(client, path).status_code == 403, path
    db.session.expire_all()
    thread = db.session.get(Thread, t.id)
    assert not thread.is_hidden and not thread.is_locked
    assert not db.session.get(User, author.id).is_suspended
    assert db.session.scalar(select(func.count()).select_from(ModerationAction)) == 0


def test_suspended_account_is_signed_out_and_told_only_after_correct_password(client, auth):
    author, other, mod, t = _setup()
    auth.login("replier")
    assert client.get("/account").status_code == 200
    from forum.moderation import service

    service.set_suspended(db.session.get(User, mod.id), db.session.get(User, other.id), True)
    # the existing session is dead
    assert client.get("/account").status_code in (302, 401)
    wrong = auth.login("replier", "wrong password").get_data(as_text=True)
    assert "suspended" not in wrong.lower()
    right = auth.login("replier").get_data(as_text=True)
    assert "suspended" in right.lower()
    assert client.get("/account").status_code in (302, 401)


def test_moderator_cannot_suspend_admin_or_self(app):
    admin = f.user("boss", role="admin")
    mod = f.user("mod_two", role="moderator")
    from forum.moderation import service
    from forum.services import PermissionDenied

    for target in (admin, mod):
        try:
            service.set_suspended(mod, target, True)
        except PermissionDenied:
            pass
        else:
            raise AssertionError("should refuse")
    assert not admin.is_suspended and not mod.is_suspended


def test_audit_log_is_for_admins_only(client, auth):
    author, other, mod, t = _setup()
    f.user("boss", role="admin")
    auth.login("mod_mo")
    _post_form(client, f"/moderation/threads/{t.id}/lock", {"reason": "heated"})
    assert client.get("/moderation/log").status_code == 403
    auth.logout()
    auth.login("boss")
    html = client.get("/moderation/log").get_data(as_text=True)
    assert "lock" in html and "heated" in html and "mod_mo" in html


def test_set_role_command(runner, app):
    f.user("someone")
    result = runner.invoke(args=["forum", "set-role", "someone", "moderator"])
    assert result.exit_code == 0, result.output
    assert User.by_name("someone").role == "moderator"
    result = runner.invoke(args=["forum", "set-role", "someone", "emperor"])
    assert result.exit_code != 0
    result = runner.invoke(args=["forum", "set-role", "nobody_here", "admin"])
    assert result.exit_code != 0
    assert db.session.scalar(select(ModerationAction.action)) == "set_role"


def test_new_account_limits_links_and_posts_per_hour(client, auth, app):
    newbie = f.user("newbie")
    t = f.thread(f.user("old_hand"), title="A question about aza")
    auth.login("newbie")
    links = "see https://a.example https://b.example and https://c.example"
    resp = _post_form(client, f"/t/{t.id}/reply", {"body": links}, page=f"/t/{t.id}")
    assert resp.status_code == 400
    assert "at most 2 links" in resp.get_data(as_text=True)
    for n in range(5):
        resp = _post_form(client, f"/t/{t.id}/reply", {"body": f"reply {n}"}, page=f"/t/{t.id}")
        assert resp.status_code == 302
    resp = _post_form(client, f"/t/{t.id}/reply", {"body": "one too many"}, page=f"/t/{t.id}")
    assert resp.status_code == 400
    assert "posts an hour" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Thread, t.id).reply_count == 5
    # a day later the limits are gone
    u = db.session.get(User, newbie.id)
    u.created_at = u.created_at - timedelta(days=2)
    db.session.commit()
    resp = _post_form(client, f"/t/{t.id}/reply", {"body": links}, page=f"/t/{t.id}")
    assert resp.status_code == 302
