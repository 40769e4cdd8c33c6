"""Rendered posts of the thread page, remembered by everything they show.

A signed-in member's thread page is never served by the anonymous page cache, and most
of its cost was Jinja rendering every post (``threads/_post.html`` with the
``threads/_post_extras.html`` hook: byline, body, helpful count, warning banner, the
viewer's buttons). Each post is rendered once per distinct key and reused.

Contract: a post's key (``post_key``) *is* its rendering's inputs, in two parts:
  - what the post shows: its columns (body, HTML, dates, counts, hidden, deleted), the
    author's id, display name and flair, whether it resolved the thread, the thread's
    title (the question's warning banner reads it) and asker's name (the resolved label),
    and the script root links are made under;
  - who is looking, as the few facts the templates test: signed in or not, their own post,
    their vote on it, whether they asked the thread, whether they are suspended, and the
    path the sign-in link returns to (visitors only).
An edit, a reply, a vote, a hide, a deletion, a resolve, a rename or an erased author gives
a new key, so nothing stale is served and there is nothing to invalidate; old entries fall
out of the byte-bounded LRU that thread-list rows use (``THREAD_ROW_CACHE_BYTES``).

Never in an entry: the viewer's CSRF token. A post is rendered with a per-process random
marker in its place and stored split on the marker; each page joins the parts with the
viewer's own token (and asks for none where the post has no form, so a visitor's page
still sets no cookie). A post's text can never contain the marker: nobody sees it.
Moderators (whose buttons name the author's role and suspension) are rendered afresh.

A new input to ``_post.html`` or ``_post_extras.html`` must be added to ``post_key``
(tests/integration/test_thread_posts.py renders pages both ways for several viewers and
compares them).
"""

from __future__ import annotations

import secrets

from flask import current_app, request
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

_MARK = "csrf-" + secrets.token_hex(16)  # stands for the viewer's token in stored posts


def _marker() -> str:
    return _MARK


class _Page:
    """What every post's key shares on one page: the thread's and the viewer's facts, read
    once (``current_user`` is a proxy, and ORM attributes are not free)."""

    def __init__(self, ctx, resolved_frame: bool):
        thread = ctx["thread"]
        viewer = current_user._get_current_object()
        self.signed_in = bool(viewer and viewer.is_authenticated)
        self.viewer_id = viewer.id if self.signed_in else None
        self.flair = ctx.get("flair") or {}
        self.voted = ctx.get("voted") or ()
        self.resolved_id = thread.resolved_post_id
        asker = thread.author if resolved_frame else None
        self.shared = (
            "post",
            request.script_root,
            thread.id,
            bool(resolved_frame),
            asker.display_name if asker is not None else None,
            # the viewer, as the facts the templates test
            self.signed_in,
            bool(ctx.get("is_asker")),
            self.signed_in and bool(viewer.is_suspended),
            None if self.signed_in else request.path,
        )
        self.title = thread.title


def post_key(page: _Page, post) -> tuple:
    """Everything ``_post.html`` shows for ``post`` to this viewer (see the module's
    contract); ``page`` holds the parts every post on the page shares."""
    author = post.author
    author_id = post.author_id
    return (
        page.shared,
        post.id,
        post.is_question,
        post.is_deleted,
        post.is_hidden,
        post.body,
        post.body_html,
        post.created_at,
        post.edited_at,
        post.helpful_count,
        author_id,
        author.display_name if author is not None else None,
        page.flair.get(author_id) if author_id else None,
        page.resolved_id == post.id,
        page.title if post.is_question else None,
        # the viewer and this post
        page.signed_in and author_id == page.viewer_id,
        post.id in page.voted,
    )


def _remembered(cache, key, macro, post, resolved_frame: bool) -> tuple[str, ...]:
    """One post's rendering, split on the token marker: remembered, or rendered now."""
    parts = cache.get(key)
    if parts is None:
        parts = tuple(str(macro(post, resolved_frame, _marker)).split(_MARK))
        size = sum(map(len, parts)) + len(post.body or "") + len(post.body_html or "")
        cache.put(key, parts, size)
    return parts


@pass_context
def thread_posts(ctx, macro, posts, resolved_frame: bool = False) -> Markup:
    """``macro(post, resolved_frame, csrf_token)`` for each post, each rendered once per
    distinct key; a run of posts seen together before (a long thread read again) is one
    remembered entry, so the page costs one lookup instead of one per post."""
    posts = [p for p in posts if p is not None]
    if not posts:
        return Markup("")
    cache = current_app.extensions.get("thread_rows")
    if cache is None or ctx.get("is_moderator"):  # moderators' buttons: rendered afresh
        return Markup("").join(macro(p, resolved_frame, ctx["csrf_token"]) for p in posts)
    page = _Page(ctx, resolved_frame)
    keys = [post_key(page, p) for p in posts]
    if len(posts) == 1:
        parts = _remembered(cache, keys[0], macro, posts[0], resolved_frame)
    else:
        run_key = ("posts", *keys)
        parts = cache.get(run_key)
        if parts is None:
            pieces = (
                _remembered(cache, k, macro, p, resolved_frame)
                for k, p in zip(keys, posts, strict=True)
            )
            parts = tuple("".join(_MARK.join(piece) for piece in pieces).split(_MARK))
            cache.put(run_key, parts, sum(map(len, parts)))
    # The parts come from the autoescaped templates; the token is URL-safe characters.
    if len(parts) == 1:
        return Markup(parts[0])  # noqa: S704 - no form in it: no token asked for
    return Markup(ctx["csrf_token"]().join(parts))  # noqa: S704


def init_app(app) -> None:
    app.jinja_env.globals["thread_posts"] = thread_posts
