"""Writing through the real forms: ask (with preview), reply, edit, delete, helpful, resolve,
and the bad inputs: empty and oversized fields, bad tags, other people's posts, no CSRF
token, hostile Markdown."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from forum.extensions import db
from forum.models import HelpfulVote, Post, Thread, utcnow
from tests import factories
from tests.conftest import csrf_from


def token(client, path="/login"):
    return csrf_from(client.get(path).get_data(as_text=True))


def counts() -> tuple[int, int]:
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count(Thread.id))),
        db.session.scalar(select(func.count(Post.id))),
    )


def checked(html: str, name: str, value: str) -> bool:
    """Whether the checkbox name=value is ticked on the page."""
    tag = html.split(f'name="{name}" value="{value}"')[1].split(">")[0]
    return tag.endswith(" checked")


def ask(client, **fields):
    data = {
        "title": "Tiredness in the afternoons",
        "body": "Does anyone else get **very** tired after lunch?",
        "conditions": ["lupus"],
        "submit": "Post question",
        "csrf_token": token(client, "/ask"),
    }
    data.update(fields)
    return client.post("/ask", data=data)


@pytest.fixture
def me(auth):
    """A signed-in member of a month's standing (new-account limits do not apply)."""
    user = factories.user("sunny_days")
    user.created_at = utcnow() - timedelta(days=30)
    db.session.commit()
    auth.login()
    return user


# --- asking -------------------------------------------------------------------------------


def test_ask_needs_sign_in(client):
    response = client.get("/ask")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_ask_form_has_labelled_inputs_and_the_search_hook(client, me):
    html = client.get("/ask").get_data(as_text=True)
    assert '<label for="title">' in html and 'id="title"' in html
    assert '<div id="similar-questions" aria-live="polite"></div>' in html
    assert html.index('id="title"') < html.index('id="similar-questions"')
    assert "<legend>Conditions (choose 1 to 3)</legend>" in html
    assert '<label><input type="checkbox" name="conditions" value="lupus"' in html
    assert "<summary>Side effects (optional)</summary>" in html
    assert "Markdown" in html


def test_ask_posts_a_thread_with_tags(client, me):
    response = ask(
        client,
        conditions=["crohns", "lupus"],
        side_effects=["nausea"],
        medications=["allopurinol"],
    )
    assert response.status_code == 302
    thread = db.session.scalar(select(Thread).where(Thread.title == "Tiredness in the afternoons"))
    assert response.headers["Location"] == f"/t/{thread.id}/tiredness-in-the-afternoons"
    assert sorted(thread.tag_slugs("condition")) == ["crohns", "lupus"]
    assert thread.tag_slugs("side_effect") == ["nausea"]
    assert thread.author_id == me.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<strong>very</strong>" in html and "Your question is posted" in html


def test_preview_renders_without_saving_and_keeps_everything(client, me):
    before = counts()
    response = ask(
        client,
        body="A list:\n\n- one\n- two",
        conditions=["uveitis"],
        side_effects=["rash"],
        preview="Preview",
        submit=None,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Preview (not posted yet)" in html
    assert "<li>one</li>" in html
    assert 'value="Tiredness in the afternoons"' in html
    assert "A list:\n\n- one\n- two</textarea>" in html
    assert checked(html, "conditions", "uveitis") and checked(html, "side_effects", "rash")
    assert not checked(html, "conditions", "lupus")
    assert counts() == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "Please give your question a title"),
        ({"title": "   "}, "Please give your question a title"),
        ({"title": "x" * 201}, "the limit is 200"),
        ({"body": ""}, "Please write something first"),
        ({"body": "y" * 20_001}, "the limit is 20,000"),
        ({"conditions": []}, "Choose at least one condition"),
        ({"conditions": ["not-a-condition"]}, "Unknown condition"),
        ({"conditions": ["lupus", "crohns", "uveitis", "vasculitis"]}, "At most 3"),
    ],
)
def test_bad_questions_are_refused_keeping_what_was_typed(client, me, fields, message):
    before = counts()
    response = ask(client, **{"side_effects": ["fatigue"], **fields})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert counts() == before
    # What the person typed is still there.
    if fields.get("title", "Tiredness in the afternoons") == "Tiredness in the afternoons":
        assert 'value="Tiredness in the afternoons"' in html
    if "body" not in fields:
        assert "Does anyone else get **very** tired after lunch?</textarea>" in html
    assert checked(html, "side_effects", "fatigue")


def test_oversized_request_is_refused_cleanly(client, me):
    before = counts()
    response = ask(client, body="z" * 300_000)
    assert response.status_code == 413
    assert counts() == before


def test_posting_without_csrf_token_is_400_and_stores_nothing(client, me):
    t = factories.thread(title="Target thread")
    before = counts()
    responses = [
        client.post("/ask", data={"title": "No token", "body": "x", "conditions": ["lupus"]}),
        client.post(f"/t/{t.id}/reply", data={"body": "No token reply"}),
        client.post(f"/t/{t.id}/reply", data={"body": "Bad token", "csrf_token": "forged"}),
    ]
    for response in responses:
        assert response.status_code == 400
        assert "Your form expired, please go back and try again" in response.get_data(as_text=True)
    assert counts() == before


# --- replying -----------------------------------------------------------------------------


def reply(client, thread, body, **extra):
    return client.post(
        f"/t/{thread.id}/reply",
        data={"body": body, "csrf_token": token(client, f"/t/{thread.id}"), **extra},
    )


def test_reply_is_posted_and_counted(client, me):
    t = factories.thread(title="Any tips for nausea?")
    response = reply(client, t, "Taking it with food helped *me*.")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/t/{t.id}/any-tips-for-nausea#post-")
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Taking it with food helped <em>me</em>." in html
    assert "1 reply" in html
    assert db.session.get(Thread, t.id).reply_count == 1


def test_empty_or_oversized_reply_is_refused(client, me):
    t = factories.thread()
    before = counts()
    empty = reply(client, t, "   ")
    assert empty.status_code == 400
    assert "Please write something first" in empty.get_data(as_text=True)
    big = reply(client, t, "w" * 20_001)
    assert big.status_code == 400
    assert counts() == before


def test_reply_preview_keeps_text_and_saves_nothing(client, me):
    t = factories.thread()
    before = counts()
    response = reply(client, t, "Draft with **bold**", preview="Preview")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<strong>bold</strong>" in html and "Draft with **bold**</textarea>" in html
    assert counts() == before


def test_reply_to_locked_thread_is_403(client, me):
    t = factories.thread()
    t.is_locked = True
    db.session.commit()
    before = counts()
    assert reply(client, t, "Too late").status_code == 403
    assert counts() == before


def test_reply_needs_sign_in(client):
    t = factories.thread()
    response = client.post(f"/t/{t.id}/reply", data={"body": "anon", "csrf_token": token(client)})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- editing and deleting -----------------------------------------------------------------


def edit(client, post, **fields):
    data = {"csrf_token": token(client, f"/posts/{post.id}/edit"), "submit": "Save", **fields}
    return client.post(f"/posts/{post.id}/edit", data=data)


def test_edit_own_reply_marks_it_edited(client, me):
    t = factories.thread(replies=[(me, "First version")])
    post = t.replies[0]
    assert "First version</textarea>" in client.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    assert edit(client, post, body="Second version").status_code == 302
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Second version" in html and "First version" not in html
    assert ">edited</span>" in html


def test_edit_question_changes_title_and_tags(client, me):
    t = factories.thread(me, title="Old title", conditions=("lupus",))
    response = edit(
        client,
        t.question,
        title="New title",
        body="New body",
        conditions=["crohns"],
        medications=["mercaptopurine"],
    )
    assert response.status_code == 302
    db.session.expire_all()
    thread = db.session.get(Thread, t.id)
    assert thread.title == "New title"
    assert thread.tag_slugs("condition") == ["crohns"]
    assert thread.tag_slugs("medication") == ["mercaptopurine"]
    assert thread.question.edited_at is not None


def test_edit_question_with_bad_tags_changes_nothing(client, me):
    t = factories.thread(me, title="Keep me", conditions=("lupus",))
    response = edit(
        client,
        t.question,
        title="Changed",
        body="Changed",
        conditions=["lupus", "crohns", "uveitis", "vasculitis"],
    )
    assert response.status_code == 400
    db.session.expire_all()
    thread = db.session.get(Thread, t.id)
    assert thread.title == "Keep me" and thread.question.edited_at is None


def test_cannot_edit_or_delete_someone_elses_post(client, me):
    other = factories.user("someone_else")
    t = factories.thread(other, title="Not yours", replies=[(other, "Their reply")])
    for post in (t.question, t.replies[0]):
        assert client.get(f"/posts/{post.id}/edit").status_code == 403
        assert client.get(f"/posts/{post.id}/delete").status_code == 403
        assert edit(client, post, body="Hijacked", title="Hijacked").status_code == 403
        response = client.post(
            f"/posts/{post.id}/delete", data={"csrf_token": token(client, f"/t/{t.id}")}
        )
        assert response.status_code == 403
    db.session.expire_all()
    thread = db.session.get(Thread, t.id)
    assert thread.title == "Not yours" and not thread.is_deleted
    assert [p.body for p in thread.posts] == ["A question.", "Their reply"]
    assert all(p.edited_at is None and not p.is_deleted for p in thread.posts)


def test_delete_reply_asks_first_then_leaves_a_marker(client, me):
    t = factories.thread(replies=[(me, "Something I regret")])
    post = t.replies[0]
    confirm = client.get(f"/posts/{post.id}/delete").get_data(as_text=True)
    assert "Delete your reply?" in confirm and f'action="/posts/{post.id}/delete"' in confirm
    response = client.post(f"/posts/{post.id}/delete", data={"csrf_token": csrf_from(confirm)})
    assert response.status_code == 302
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "This post was removed" in html and "Something I regret" not in html
    assert "0 replies" in html
    db.session.expire_all()
    assert db.session.get(Post, post.id).body == ""
    assert client.get(f"/posts/{post.id}/edit").status_code == 404


def test_deleting_the_question_removes_the_thread(client, me):
    t = factories.thread(me, title="Delete my whole thread")
    confirm = client.get(f"/posts/{t.question.id}/delete").get_data(as_text=True)
    assert "removes the whole thread" in confirm
    client.post(f"/posts/{t.question.id}/delete", data={"csrf_token": csrf_from(confirm)})
    assert client.get(f"/t/{t.id}").status_code == 404
    assert "Delete my whole thread" not in client.get("/").get_data(as_text=True)


# --- helpful and resolved -----------------------------------------------------------------


def helpful(client, post, undo=False):
    data = {"csrf_token": token(client)}
    if undo:
        data["undo"] = "1"
    return client.post(f"/posts/{post.id}/helpful", data=data)


def test_helpful_counts_once_and_can_be_undone(client, me):
    t = factories.thread(replies=[(factories.user("helper"), "Try it at night")])
    post = t.replies[0]
    assert helpful(client, post).status_code == 302
    assert helpful(client, post).status_code == 302
    db.session.expire_all()
    assert db.session.get(Post, post.id).helpful_count == 1
    assert db.session.get(Thread, t.id).helpful_count == 1
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "1 found this helpful" in html and "You found this helpful" in html
    helpful(client, post, undo=True)
    helpful(client, post, undo=True)
    db.session.expire_all()
    assert db.session.get(Post, post.id).helpful_count == 0
    assert db.session.scalar(select(func.count(HelpfulVote.id))) == 0
    assert "This helped me" in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_cannot_mark_own_reply_or_the_question_helpful(client, me):
    t = factories.thread(replies=[(me, "My own reply")])
    assert helpful(client, t.replies[0]).status_code == 403
    assert helpful(client, t.question).status_code == 400
    db.session.expire_all()
    assert db.session.get(Post, t.replies[0].id).helpful_count == 0
    assert "This helped me" not in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_helpful_on_missing_post_is_404(client, me):
    assert client.post("/posts/9999/helpful", data={"csrf_token": token(client)}).status_code == 404


def resolve(client, thread, post_id):
    return client.post(
        f"/t/{thread.id}/resolve",
        data={"post_id": "" if post_id is None else str(post_id), "csrf_token": token(client)},
    )


def test_asker_marks_a_reply_resolved_and_it_is_shown_first(client, me):
    a, b = factories.user("early"), factories.user("later")
    t = factories.thread(me, replies=[(a, "Early reply text"), (b, "Later reply that worked")])
    assert resolve(client, t, t.replies[1].id).status_code == 302
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Resolved it for sunny_days" in html
    assert "one person's experience, not advice" in html
    assert html.index("Later reply that worked") < html.index("Early reply text")
    assert "Unmark as resolved" in html
    assert resolve(client, t, None).status_code == 302
    db.session.expire_all()
    assert db.session.get(Thread, t.id).resolved_post_id is None
    html = client.get(f"/t/{t.id}").get_data(as_text=True)
    assert "Resolved it for" not in html
    assert html.index("Early reply text") < html.index("Later reply that worked")


def test_only_the_asker_can_resolve(client, me):
    asker = factories.user("asker")
    t = factories.thread(asker, replies=[(me, "My reply")])
    assert resolve(client, t, t.replies[0].id).status_code == 403
    db.session.expire_all()
    assert db.session.get(Thread, t.id).resolved_post_id is None
    assert "This resolved it for me" not in client.get(f"/t/{t.id}").get_data(as_text=True)


def test_resolve_with_a_post_from_another_thread_or_garbage_is_refused(client, me):
    t = factories.thread(me, replies=[(factories.user(), "Here")])
    elsewhere = factories.thread(replies=[(factories.user(), "There")])
    assert resolve(client, t, elsewhere.replies[0].id).status_code == 400
    assert resolve(client, t, t.question.id).status_code == 400
    assert resolve(client, t, "abc").status_code == 400
    db.session.expire_all()
    assert db.session.get(Thread, t.id).resolved_post_id is None


# --- hostile Markdown ---------------------------------------------------------------------

HOSTILE = """<script>alert('x')</script>

[click me](javascript:alert(1))

<img src=x onerror="alert(2)">

[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgzKTwvc2NyaXB0Pg==)

![img](data:image/png;base64,AAAA)

<a href="https://example.org" onclick="alert(4)">raw link</a>

[fine](https://example.org/ok)
"""


class _Markup(HTMLParser):
    """Every element and attribute the browser would build from a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))


def dangerous_markup(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    found = []
    for tag, attrs in parser.tags:
        if tag == "script" and attrs.get("src", "").startswith("/static/"):
            continue  # the site's own scripts
        if tag == "svg" and attrs.get("class") == "avatar":
            continue  # the site's own generated avatars (forum/people.py)
        if tag in ("script", "img", "iframe", "object", "embed", "svg"):
            found.append(tag)
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{tag} {name}")
            if name in ("href", "src") and value.strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                found.append(f"{tag} {name}={value}")
    return found


def main_of(html: str) -> str:
    return html.split('<main id="main"')[1].split("</main>")[0]


def test_hostile_markdown_never_becomes_markup(client, me):
    t = factories.thread(title="Hostile test")
    assert reply(client, t, HOSTILE).status_code == 302
    assert ask(client, title="Hostile question", body=HOSTILE).status_code == 302
    question = db.session.scalar(select(Thread).where(Thread.title == "Hostile question"))
    for path in (f"/t/{t.id}", f"/t/{question.id}"):
        main = main_of(client.get(path).get_data(as_text=True))
        assert dangerous_markup(main) == []
        # The words survive as text; the safe link stays a link, marked nofollow ugc.
        assert "alert(&#39;x&#39;)" in main or "alert('x')" in main
        assert 'href="https://example.org/ok" rel="nofollow ugc noopener"' in main
    # Preview goes through the same sanitiser.
    preview = ask(client, body=HOSTILE, preview="Preview", submit=None).get_data(as_text=True)
    assert dangerous_markup(main_of(preview)) == []


def test_the_checker_would_catch_real_markup():
    """Guard against a checker that cannot fail."""
    assert dangerous_markup(
        '<script>x</script><img src=x onerror="alert(1)"><a href="javascript:x">a</a>'
    ) == [
        "script",
        "img",
        "img onerror",
        "a href=javascript:x",
    ]
