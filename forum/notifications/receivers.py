"""Signal receivers: activity in the forum becomes notifications, follows and emails.

They run inside the service's transaction (see ``forum.signals``), so a rolled-back
post leaves no notification, follow or queued email behind.
"""

from __future__ import annotations

from flask import Flask

from .. import signals
from ..extensions import db
from ..markdown import plain_text
from ..models import Post, Thread, User
from ..vocabulary import name_of
from . import drafts, links, mailer, service
from .models import Notification

TOPIC_KINDS = ("condition", "side_effect", "medication")


def connect(app: Flask) -> None:
    signals.thread_created.connect(on_thread_created)
    signals.threads_imported.connect(on_threads_imported)
    signals.reply_created.connect(on_reply_created)
    signals.helpful_marked.connect(on_helpful)
    signals.resolved_marked.connect(on_resolved)
    signals.moderation_action.connect(on_moderation)
    signals.committed.connect(mailer.after_commit)


@signals.handles_imports  # on_threads_imported does its work for a bulk import
def on_thread_created(app, thread: Thread, **_):
    author = thread.author
    if author is not None:
        service.auto_follow(author, thread)
        drafts.discard(author, "ask", None)
    if thread.import_key or not service.visible(thread):
        return  # imported history is not news
    _email_topic_followers(thread)


def on_threads_imported(app, threads, **_):
    """``on_thread_created`` for a bulk import's batch, set-wise: each author follows
    their thread and their unfinished question draft is dropped; imported history
    notifies and emails nobody."""
    service.auto_follow_new(threads)
    drafts.discard_asks({t.author_id for t in threads if t.author_id is not None})


def on_reply_created(app, post: Post, **_):
    thread = post.thread
    author = post.author
    if author is not None:
        drafts.discard(author, "reply", thread.id)
    if service.visible(thread, post):
        followers = service.followers("thread", str(thread.id))
        for user, note in service.notify_many(
            followers, "reply", thread=thread, post=post, actor=author, new_post=True
        ):
            _email_now(note, user)
    service.auto_follow(author, thread)


def on_helpful(app, post: Post, user: User, **_):
    if service.visible(post.thread, post):
        note = service.notify(post.author, "helpful", thread=post.thread, post=post, actor=user)
        _email_now(note, post.author)


def on_resolved(app, thread: Thread, post: Post, **_):
    if service.visible(thread, post):
        note = service.notify(
            post.author, "resolved", thread=thread, post=post, actor=thread.author
        )
        _email_now(note, post.author)


def on_moderation(app, action: str = "", moderator: User | None = None, **kw):
    """A moderator acted on a post (``post=``) or a whole thread (``thread=``)."""
    post: Post | None = kw.get("post")
    thread: Thread | None = kw.get("thread") or (post.thread if post is not None else None)
    if thread is None:
        return
    target = post.author if post is not None else thread.author
    if post is None and thread.posts:
        post = thread.question
    service.notify(
        target, "moderation", thread=thread, post=post, actor=moderator, detail=str(action)[:40]
    )
    # No email: the notice may be about content that is now hidden.


def _email_now(note: Notification | None, user: User | None) -> None:
    if note is None or user is None or mailer.email_mode(user) != "immediate":
        return
    db.session.flush()  # resolve note.thread / note.post for the text
    text, url = service.describe(note)
    post = note.post
    excerpt = _excerpt(post.body) if post is not None and note.kind == "reply" else ""
    mailer.enqueue(
        user,
        text,
        f"{text}.\n\n{excerpt}Read it here: {links.external(url)}\n",
        thread_id=note.thread_id,
        post_id=note.post_id,
    )


def _email_topic_followers(thread: Thread) -> None:
    names = {}
    for tag in thread.tags:
        if tag.kind in TOPIC_KINDS:
            for user in service.followers(tag.kind, tag.slug):
                names.setdefault(user.id, (user, []))[1].append((tag.kind, tag.slug))
    for user, tags in names.values():
        if user.id == thread.author_id or mailer.email_mode(user) != "immediate":
            continue
        about = ", ".join(name_of(kind, slug) for kind, slug in tags)
        mailer.enqueue(
            user,
            f"New question about {about}: {thread.title}",
            f"A new question was asked about {about}, which you follow:\n\n"
            f"“{thread.title}”\n\n{_excerpt(thread.question.body)}"
            f"Read it here: {links.external(links.thread_url(thread.id))}\n",
            thread_id=thread.id,
        )


def _excerpt(body: str, limit: int = 400) -> str:
    text = plain_text(body)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + "…"
    return f"{text}\n\n" if text else ""
