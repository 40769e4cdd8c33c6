"""What an erased member's words leave behind outside their own rows, and removing it.

Deleting their threads, replies and account is not enough on its own: their words were
also copied into the moderators' audit log (labels quote thread titles and names), the
notes of reports they filed, mails queued or kept for others, and, on SQLite, into the
write-ahead log and freed pages of the database file. The contract of ``erase_traces``
(called inside the erasing transaction) and ``wipe_sqlite_files`` (after its commit):

* Audit log rows about them, their threads or the posts that go with them keep the facts
  (who did what, when, ids, the action) and lose the words: the label becomes neutral, the
  moderator's reason about an erased post or thread is removed (it may quote it), and their
  name and thread titles are cut out of every other label and reason.
* Notes of the reports they filed are blanked (the reason category stays; it is a choice
  from a list, not their words). Reports on posts that are erased go with the posts.
* Mails for other people that quote an erased thread title are deleted.
* SQLite: every connection runs with ``PRAGMA secure_delete=ON`` (forum/web.py), so deleted
  rows are overwritten with zeros, and after the commit the WAL is checkpointed and
  truncated, so no older copy of a page survives in ``forum.db-wal``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update

from ..extensions import db
from ..models import Post, Thread, User

log = logging.getLogger(__name__)
ERASED = "[erased]"


@dataclass
class Traces:
    """Ids and words of one member, gathered before their rows are deleted."""

    user_id: int
    name: str
    erase: bool  # mode "erase": their threads and replies go too
    thread_ids: set[int] = field(default_factory=set)
    post_ids: set[int] = field(default_factory=set)
    titles: list[str] = field(default_factory=list)

    def words(self) -> list[str]:
        """Longest first, so a title is cut out before a name inside it."""
        found = [self.name, *(self.titles if self.erase else ())]
        return sorted({w for w in found if w and w.strip()}, key=len, reverse=True)


def gather(user: User, erase: bool) -> Traces:
    traces = Traces(user.id, user.display_name, erase)
    own = db.session.execute(select(Thread.id, Thread.title).where(Thread.author_id == user.id))
    for thread_id, title in own:
        traces.thread_ids.add(thread_id)
        traces.titles.append(title)
    traces.post_ids = set(db.session.scalars(select(Post.id).where(Post.author_id == user.id)))
    if erase and traces.thread_ids:
        in_threads = select(Post.id).where(Post.thread_id.in_(traces.thread_ids))
        traces.post_ids |= set(db.session.scalars(in_threads))
    return traces


def _redact(value: str, words: list[str]) -> str:
    for word in words:
        value = re.sub(re.escape(word), ERASED, value, flags=re.IGNORECASE)
    return value


def _scrub_audit_log(traces: Traces) -> None:
    from ..moderation.models import ModerationAction as Action

    about = [(Action.target_type == "user") & (Action.target_id == traces.user_id)]
    if traces.thread_ids:
        about.append((Action.target_type == "thread") & Action.target_id.in_(traces.thread_ids))
    if traces.post_ids:
        about.append((Action.target_type == "post") & Action.target_id.in_(traces.post_ids))
    words = traces.words()
    for row in db.session.scalars(select(Action).where(or_(*about))):
        if row.target_type == "user":
            row.target_label = f"account {row.target_id} (erased)"
        elif traces.erase:
            row.target_label = f"{row.target_type} {row.target_id} (erased with an account)"
            if row.reason:  # it may quote the erased text itself
                row.reason = "[reason removed with the erased posts]"
        else:  # "keep": the post stays, by "a former member"
            row.target_label = _redact(row.target_label, words)
        row.reason = _redact(row.reason or "", words)
    # Anything else that quotes them (a label written about someone else's post).
    for word in words:
        quoting = select(Action).where(
            or_(
                Action.target_label.contains(word, autoescape=True),
                Action.reason.contains(word, autoescape=True),
            )  # fmt: skip
        )
        for row in db.session.scalars(quoting):
            row.target_label = _redact(row.target_label, words)
            row.reason = _redact(row.reason or "", words)


def _scrub_reports_and_mail(traces: Traces) -> None:
    from ..moderation.models import Report
    from ..notifications.models import EmailOutbox

    db.session.execute(update(Report).where(Report.reporter_id == traces.user_id).values(note=""))
    for title in traces.titles if traces.erase else ():
        db.session.execute(
            delete(EmailOutbox).where(
                or_(
                    EmailOutbox.subject.contains(title, autoescape=True),
                    EmailOutbox.body.contains(title, autoescape=True),
                )  # fmt: skip
            )
        )


def erase_traces(traces: Traces) -> None:
    """Inside the erasing transaction, before their rows are deleted."""
    db.session.flush()
    _scrub_reports_and_mail(traces)
    _scrub_audit_log(traces)


def wipe_sqlite_files() -> None:
    """After the commit, on SQLite: fold the WAL into the database file and truncate it.
    With ``secure_delete`` on, the folded pages carry zeros where the erased rows were."""
    if db.engine.dialect.name != "sqlite":
        return
    db.session.rollback()  # no read transaction of ours may pin old pages in the WAL
    with db.engine.connect() as conn:
        busy, _pages, _moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning("WAL checkpoint after an erasure was blocked by a reader; it runs later")
