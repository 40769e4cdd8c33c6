"""Content in and out: the JSON Lines format of ``../shared/spec/import-format.md``.

Import goes through the thread service (``prepare_thread`` per line, then ``persist_imported``
per batch of ``BATCH`` lines: the same rows, change records and receivers' work as
``create_thread`` for one, written with bulk inserts), so
sanitising, vocabulary mapping, signals and search-change records have one path for the
web forms, the API and this module. A line that cannot be imported is reported with its
number and skipped; the rest imports. Each thread gets a stable ``import_key`` so a file
imported twice creates no duplicates. Each thread is all-or-nothing: a bad line is
skipped before its batch is written, and a batch whose transaction fails is retried one
thread per transaction, so only the thread that fails is skipped.

Bulk imports commit once per batch, and ``signals.committed`` fires after each commit.
While an import runs in this process (any thread), ``importing()`` is true and
``import_checkpoint`` is sent after the first batch (250 threads), then once
``CHECKPOINT_EVERY`` threads or as many again as were imported before are stored (750,
1,500, 3,000, ...), and once at the end
(``final=True``): a receiver (the search index) may defer its per-commit and background
work and apply it at the checkpoints instead, in large batches (the index: in a process
beside the import, caught up at the end, see ``search.checkpoints``). Nothing is lost by
deferring: the changes are recorded in the database either way.

Lines by "a former member" (``FORMER_MEMBER``: what export writes for an erased author)
are imported with no author, as the erasure left them; no account of that name is made.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from blinker import Namespace
from flask import current_app
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import names, signals, vocabulary
from .extensions import db
from .models import Post, Thread, User
from .services import ServiceError
from .threads import service

FORMER_MEMBER = "a former member"
NAME_MAX = 40
CHECKPOINT_EVERY = 500
BATCH = 250  # threads per transaction in a bulk import
EXPORT_CHUNK = 500

_signals = Namespace()
import_checkpoint = _signals.signal("import-checkpoint")  # sender: app; during and after import
_active_imports = 0  # bulk imports running in this process (nested ones count too)
_active_lock = threading.Lock()


def importing() -> bool:
    """True while a bulk import runs in this process (see ``import_checkpoint``).

    Process-wide, not per thread: the search index applies in a background thread, which
    should leave an import's changes to the import's checkpoints too.
    """
    return _active_imports > 0


def imports_running() -> int:
    """Bulk imports running in this process now (two or more: concurrent imports)."""
    return _active_imports


@contextmanager
def bulk_import() -> Iterator[None]:
    """Mark a bulk import; the final checkpoint is sent on the way out, even after errors,
    while the import still counts as running: its receivers catch the index up then, and
    the process's background applier must go on leaving the import's rows to them (it
    used to wake as the count dropped, take the index's write lock first and apply the
    backlog one thread at a time through whoosh's writer - about one 5,000-thread
    import in eight took 2.5 times as long)."""
    global _active_imports
    with _active_lock:
        _active_imports += 1
    try:
        yield
    finally:
        try:
            import_checkpoint.send(current_app._get_current_object(), final=True)
        finally:
            with _active_lock:
                _active_imports -= 1


class AlreadyPresent(Exception):
    """The thread was imported before (possibly by a concurrent import)."""


class LineError(Exception):
    """A line that cannot be imported; ``reason`` says why, for the report."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ReplyRecord:
    author: str
    body: str
    created: datetime | None


@dataclass
class ThreadRecord:
    title: str
    body: str
    author: str
    created: datetime | None
    conditions: list[str]
    side_effects: list[str]
    medications: list[str]
    replies: list[ReplyRecord]
    experience: object = None  # the author's experience report (docs/import-format-experience.md)

    @property
    def import_key(self) -> str:
        return import_key(self.title, self.author, self.created)


@dataclass
class ImportReport:
    imported: int = 0
    already_present: int = 0
    accounts_created: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    thread_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped


# --- parsing -----------------------------------------------------------------------------


def import_key(title: str, author: str, created: datetime | None) -> str:
    """Stable fingerprint of a thread: normalised title, author name key, UTC timestamp."""
    parts = (
        " ".join(title.split()).casefold(),
        " ".join(author.split()).lower(),
        created.isoformat(timespec="seconds") if created else "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse_timestamp(value: object, what: str = "created") -> datetime | None:
    """ISO-8601 (``Z`` or an offset) to naive UTC; a missing value is None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LineError(f"{what} must be an ISO-8601 string")
    try:
        when = datetime.fromisoformat(value.strip())
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise LineError(f"{what} is not an ISO-8601 timestamp: {value[:40]!r}") from None
    return when


def _text(obj: dict, key: str, what: str | None = None) -> str:
    value = obj.get(key)
    what = what or key
    if value is None:
        raise LineError(f"missing field {what!r}")
    if not isinstance(value, str):
        raise LineError(f"{what} must be a string")
    if not value.strip():
        raise LineError(f"{what} is empty")
    return value


def _names(obj: dict, key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LineError(f"{key} must be a list of names")
    return value


def is_former_member(name: str) -> bool:
    """The name export writes for what an erased member left behind: imported without
    an author (shown as "a former member"), never as an account of that name."""
    return name.casefold() == FORMER_MEMBER


def _author_name(value: str, what: str) -> str:
    name = " ".join(value.split())
    if is_former_member(name):
        return FORMER_MEMBER
    if len(name) > NAME_MAX:
        raise LineError(f"{what} is longer than {NAME_MAX} characters")
    if any(not ch.isprintable() for ch in name):
        raise LineError(f"{what} contains control characters")
    if names.is_reserved(name):
        raise LineError(
            f"{what} {name!r} is a reserved name (it is, or looks like, a name of the "
            "forum's own team); give the author another name in the file"
        )
    return name


def _reply(item: object, n: int) -> ReplyRecord:
    if not isinstance(item, dict):
        raise LineError(f"reply {n} is not an object")
    return ReplyRecord(
        author=_author_name(_text(item, "author", f"reply {n} author"), f"reply {n} author"),
        body=_text(item, "body", f"reply {n} body"),
        created=parse_timestamp(item.get("created"), f"reply {n} created"),
    )


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_line(raw: bytes | str) -> ThreadRecord:
    """One line of the format to a record; LineError names what is wrong with it."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LineError("not valid UTF-8") from None
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise LineError(f"bad JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise LineError("bad JSON (nested too deeply)") from None
    except ValueError as exc:  # NaN, Infinity, or a number of more than 4300 digits
        reason = "a number with too many digits" if "digits" in str(exc) else str(exc)
        raise LineError(f"bad JSON ({reason[:80]})") from None
    if not isinstance(obj, dict):
        raise LineError("not a JSON object")
    conditions = _names(obj, "conditions")
    if not conditions:
        raise LineError("missing field 'conditions' (at least one condition)")
    replies = obj.get("replies") or []
    if not isinstance(replies, list):
        raise LineError("replies must be a list")
    return ThreadRecord(
        title=_text(obj, "title"),
        body=_text(obj, "body"),
        author=_author_name(_text(obj, "author"), "author"),
        created=parse_timestamp(obj.get("created")),
        conditions=conditions,
        side_effects=_names(obj, "side_effects"),
        medications=_names(obj, "medications"),
        replies=[_reply(item, n) for n, item in enumerate(replies, 1)],
        experience=obj.get("experience"),
    )


def _validate(record: ThreadRecord) -> list[str]:
    """The service's own rules, checked before any account is created for the line."""
    try:
        record.title = service.clean_title(record.title)
        service.clean_body(record.body)
        for reply in record.replies:
            service.clean_body(reply.body)
        _, warnings = service.resolve_tags(
            record.conditions, record.side_effects, record.medications
        )
    except ServiceError as exc:
        raise LineError(exc.message.rstrip(".")) from None
    return warnings


def _prepare(record: ThreadRecord) -> service.PreparedThread:
    """The service's own cleaning, validation, vocabulary and rendering; authors by name."""
    try:
        record.title = service.clean_title(record.title)  # the import key uses it cleaned
        return service.prepare_thread(
            record.author,
            record.title,
            record.body,
            record.conditions,
            record.side_effects,
            record.medications,
            created=record.created,
            replies=[(r.author, r.body, r.created) for r in record.replies],
            import_key=record.import_key,
        )
    except ServiceError as exc:
        raise LineError(exc.message.rstrip(".")) from None


# --- importing ---------------------------------------------------------------------------


class Importer:
    """Imports lines one thread (one transaction) at a time, caching authors and keys."""

    def __init__(self) -> None:
        self.report = ImportReport()
        # Every account by name key, read once: most imported authors are new, and a
        # lookup per name would cost a query (and a flush) each.
        self._author_ids: dict[str, int] = {
            name_key: user_id
            for name_key, user_id in db.session.execute(select(User.name_key, User.id))
        }
        # What every name looks like (forum.names): a new author may not look like another.
        self._skeletons: dict[str, str] = {
            skeleton: name_key
            for skeleton, name_key in db.session.execute(
                select(User.name_skeleton, User.name_key).where(User.name_skeleton.is_not(None))
            )
        }
        self._line_users: dict[str, User] = {}  # authors of the line being imported
        self._checkpointed = 0  # threads imported at the last checkpoint
        self._fresh: set[str] = set()  # accounts this import created: no older threads
        self._keys: set[str] = set(
            db.session.scalars(select(Thread.import_key).where(Thread.import_key.is_not(None)))
        )

    def run(self, lines: Iterable[bytes | str], tick: Callable[[], None] | None = None):
        """Import every line, ``BATCH`` lines per transaction (see ``import_batch``)."""
        size = max(1, min(BATCH, CHECKPOINT_EVERY))
        with bulk_import():
            pending: list[tuple[int, bytes | str]] = []
            for line_no, raw in enumerate(lines, 1):
                pending.append((line_no, raw))
                if len(pending) >= size:
                    self.import_batch(pending)
                    pending = []
                if tick:
                    tick()
            if pending:
                self.import_batch(pending)
        self.report.skipped.sort(key=lambda item: item[0])
        self.report.warnings.sort(key=lambda item: item[0])
        return self.report

    def import_batch(self, lines: Sequence[tuple[int, bytes | str]]) -> None:
        """Import numbered lines in one transaction, with each thread all-or-nothing.

        Every line is parsed, validated and rendered first (a bad one is skipped with its
        number before anything is written); the good ones are stored together by
        ``service.persist_threads`` (bulk inserts, one commit). If that fails - an
        IntegrityError from a concurrent import, a receiver refusing one thread - nothing
        of the batch stays and its threads are imported one by one, so only the thread
        that fails is skipped.
        """
        ready: list[tuple[int, ThreadRecord, service.PreparedThread]] = []
        keys: set[str] = set()
        skeletons: dict[str, str] = {}  # of the batch's new authors
        for line_no, raw in lines:
            if line_no == 1 and isinstance(raw, bytes):
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                record = parse_line(raw)
                prepared = _prepare(record)
                if record.import_key in keys or self._already_present(record):
                    raise AlreadyPresent
                skeletons.update(self._check_look_alikes(record, skeletons))
            except AlreadyPresent:
                self.report.already_present += 1
                continue
            except LineError as exc:
                self.report.skipped.append((line_no, exc.reason))
                continue
            keys.add(record.import_key)
            ready.append((line_no, record, prepared))
        if not ready:
            return
        try:
            stored = self._persist_batch(ready)
        except (ServiceError, IntegrityError):
            for line_no, record, prepared in ready:
                self._finish(line_no, record, prepared.warnings, self._create_or_skip(record))
        else:
            self._skeletons.update(skeletons)
            for (line_no, record, prepared), thread_id in zip(ready, stored, strict=True):
                self._finish(line_no, record, prepared.warnings, thread_id)
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        """Send ``import_checkpoint`` after the first batch, then once ``CHECKPOINT_EVERY``
        threads, or as many as were imported before the last checkpoint (whichever is
        more), were imported since it: the checkpoints of a long import grow (250, 750,
        1,500, 3,000, ...), so the index gets a few segments of growing size rather than
        one per few hundred threads. The first comes early because it starts the index
        work beside the import (``search.checkpoints``): until then the second core idles
        (on PostgreSQL the first 500 threads took ~0.9 s)."""
        since = self.report.imported - self._checkpointed
        first = min(CHECKPOINT_EVERY, BATCH)
        if since >= (max(CHECKPOINT_EVERY, self._checkpointed) if self._checkpointed else first):
            self._checkpointed = self.report.imported
            import_checkpoint.send(current_app._get_current_object())

    def _persist_batch(self, ready) -> list[int]:
        """Authors resolved in two queries, then one ``persist_threads`` call."""
        names = {}
        for _, record, _ in ready:
            for name in [record.author, *(r.author for r in record.replies)]:
                if name != FORMER_MEMBER:
                    names.setdefault(name.lower(), name)
        ids = [self._author_ids[k] for k in names if k in self._author_ids]
        users = {u.name_key: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
        new = {}
        for name_key, name in names.items():
            if name_key not in users:
                new[name_key] = users[name_key] = User(
                    display_name=name, name_key=name_key, email=None, password_hash=None
                )
        users[FORMER_MEMBER] = None  # an erased member's content: no author
        items = []
        for _, _, prepared in ready:
            items.append(
                replace(
                    prepared,
                    author=users[prepared.author.lower()],
                    replies=[(users[a.lower()], b, h, c) for a, b, h, c in prepared.replies],
                )
            )
        with db.session.no_autoflush:
            db.session.add_all(new.values())
        ids = _store(items)
        for name_key, user in new.items():
            self._author_ids[name_key] = inspect(user).identity[0]
            self._fresh.add(name_key)
        self.report.accounts_created += len(new)
        return ids

    def _create_or_skip(self, record: ThreadRecord) -> int | Exception:
        try:
            return self._create(record)
        except (AlreadyPresent, LineError) as exc:
            return exc

    def _finish(self, line_no, record, warnings, outcome) -> None:
        """Report one line's outcome (a thread id, AlreadyPresent or a LineError)."""
        if isinstance(outcome, AlreadyPresent):
            self.report.already_present += 1
            return
        if isinstance(outcome, LineError):
            self.report.skipped.append((line_no, outcome.reason))
            return
        self._keys.add(record.import_key)
        self.report.imported += 1
        self.report.thread_ids.append(outcome)
        self.report.warnings.extend((line_no, w) for w in warnings)
        if record.experience is not None:
            from .experiences.service import import_experience

            if warning := import_experience(outcome, record.experience):
                self.report.warnings.append((line_no, warning))

    def import_line(self, line_no: int, raw: bytes | str) -> None:
        if line_no == 1 and isinstance(raw, bytes):
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            return
        record, warnings = None, []
        try:
            record = parse_line(raw)
            warnings = _validate(record)
            if self._already_present(record):
                raise AlreadyPresent
            outcome = self._create(record)
        except (AlreadyPresent, LineError) as exc:
            outcome = exc
        self._finish(line_no, record, warnings, outcome)
        if isinstance(outcome, int) and self.report.imported % CHECKPOINT_EVERY == 0:
            import_checkpoint.send(current_app._get_current_object())

    def _create(self, record: ThreadRecord, retry: bool = True) -> int:
        """Create the thread (one transaction) and return its id."""
        key = record.import_key
        self._load_line_authors(record)
        new_skeletons = self._check_look_alikes(record)
        prepared = _prepare(record)
        try:
            item = replace(
                prepared,
                author=self._author(record.author),
                replies=[(self._author(a), b, h, c) for a, b, h, c in prepared.replies],
            )
            [thread_id] = _store([item])
        except (ServiceError, IntegrityError) as exc:
            # A flush inside the service can raise IntegrityError before its commit does:
            # another process created the same thread or account a moment ago.
            db.session.rollback()
            if db.session.scalar(select(Thread.id).where(Thread.import_key == key)):
                raise AlreadyPresent from None
            if retry and self._found_new_authors_elsewhere():
                return self._create(record, retry=False)
            message = getattr(exc, "message", "This thread already exists")  # IntegrityError
            raise LineError(message.rstrip(".")) from None
        self._keys.add(key)
        for name_key, user in self._line_users.items():
            if name_key not in self._author_ids:
                self._author_ids[name_key] = inspect(user).identity[0]
                self._fresh.add(name_key)
                self.report.accounts_created += 1
        self._skeletons.update(new_skeletons)
        return thread_id

    def _found_new_authors_elsewhere(self) -> bool:
        """After a failed commit: did another process create this line's new accounts?"""
        missing = [k for k in self._line_users if k not in self._author_ids]
        if not missing:
            return False
        rows = db.session.execute(
            select(User.name_key, User.id).where(User.name_key.in_(missing))
        ).all()
        self._author_ids.update({name_key: user_id for name_key, user_id in rows})
        return bool(rows)

    def _check_look_alikes(
        self, record: ThreadRecord, pending: dict[str, str] | None = None
    ) -> dict[str, str]:
        """LineError when a new author's name looks like another account's ("Jаne" with a
        Cyrillic а beside "Jane"), or like a new author of ``pending`` (skeleton ->
        name key, the batch's so far); else the skeletons of the line's new authors."""
        new: dict[str, str] = dict(pending or {})
        for name in [record.author, *(r.author for r in record.replies)]:
            name_key = name.lower()
            if name == FORMER_MEMBER:
                continue
            if name_key in self._author_ids or name_key in self._line_users:
                continue
            skeleton = names.stored_skeleton(name)
            other = self._skeletons.get(skeleton, new.get(skeleton))
            if skeleton and other not in (None, name_key):
                raise LineError(
                    f"author {name!r} looks like the name of another member ({other!r}); "
                    "give the author a name that cannot be mistaken for theirs"
                )
            if skeleton:
                new[skeleton] = name_key
        return new

    def _load_line_authors(self, record: ThreadRecord) -> None:
        """The existing accounts among this line's authors, in one query."""
        names = {record.author.lower()} | {r.author.lower() for r in record.replies}
        names.discard(FORMER_MEMBER)
        ids = [self._author_ids[k] for k in names if k in self._author_ids]
        users = db.session.scalars(select(User).where(User.id.in_(ids))).all() if ids else []
        self._line_users = {user.name_key: user for user in users}

    def _author(self, name: str) -> User | None:
        """The account with this display name (any case), created without a password if new;
        None for a former member (``is_former_member``).

        Only ids are cached across lines: holding User objects would make every commit
        expire a growing identity map (quadratic time on large imports).
        """
        if name == FORMER_MEMBER:
            return None
        name_key = name.lower()
        user = self._line_users.get(name_key)
        if user is not None:
            return user
        with db.session.no_autoflush:  # new accounts are inserted with the thread
            user_id = self._author_ids.get(name_key)
            user = db.session.get(User, user_id) if user_id is not None else None
        if user is None:
            user = User(display_name=name, name_key=name_key, email=None, password_hash=None)
            db.session.add(user)
        self._line_users[name_key] = user
        return user

    def _already_present(self, record: ThreadRecord) -> bool:
        """Imported before (same key), or the same thread written here (exported, re-imported)."""
        if record.import_key in self._keys:
            return True
        name_key = record.author.lower()
        if record.created is None:
            return False
        if record.author == FORMER_MEMBER:  # an erased member's thread, exported here
            by = Thread.author_id.is_(None)
        elif name_key in self._fresh or name_key not in self._author_ids:
            return False  # an author new to this forum has no threads here yet
        else:
            by = Thread.author_id == self._author_ids[name_key]
        found = db.session.scalar(
            select(Thread.id)
            .where(
                by,
                Thread.title == record.title,
                Thread.created_at >= record.created,
                Thread.created_at < record.created + timedelta(seconds=1),
                Thread.is_deleted.is_(False),
            )
            .limit(1)
        )
        return found is not None


def _store(items: list[service.PreparedThread]) -> list[int]:
    """One transaction storing ``items``: with bulk inserts (``persist_imported``) unless a
    ``thread_created`` receiver needs each thread's ORM row (``signals.threads_imported``)."""
    if signals.per_thread_receivers(current_app._get_current_object()):
        # Read the ids without reloading the expired objects: commits expire everything.
        return [inspect(t).identity[0] for t in service.persist_threads(items)]
    return service.persist_imported(items)


def import_lines(
    lines: Iterable[bytes | str], tick: Callable[[], None] | None = None
) -> ImportReport:
    """Import JSON Lines (bytes or str, one thread each); ``tick`` is called per line."""
    return Importer().run(lines, tick)


# --- exporting ---------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(user: User | None) -> str:
    return user.display_name if user is not None else FORMER_MEMBER


def thread_to_dict(thread: Thread, include_hidden: bool = False) -> dict | None:
    """One thread in the import format; None when its question is deleted or hidden.

    ``include_hidden`` keeps a hidden question (a person downloading their own data);
    hidden and deleted replies are always left out.
    """
    question = thread.posts[0] if thread.posts else None
    if question is None or not question.is_question or question.is_deleted:
        return None
    if question.is_hidden and not include_hidden:
        return None
    return {
        "title": thread.title,
        "body": question.body,
        "author": _name(question.author),
        "created": _iso(thread.created_at),
        "conditions": [vocabulary.name_of("condition", s) for s in thread.tag_slugs("condition")],
        "side_effects": [
            vocabulary.name_of("side_effect", s) for s in thread.tag_slugs("side_effect")
        ],
        "medications": [
            vocabulary.name_of("medication", s) for s in thread.tag_slugs("medication")
        ],
        "replies": [
            {"author": _name(p.author), "body": p.body, "created": _iso(p.created_at)}
            for p in thread.posts[1:]
            if p.is_visible
        ],
    }


def _exportable(query: Select | None, include_hidden: bool) -> Select:
    stmt = query if query is not None else select(Thread)
    stmt = stmt.where(Thread.is_deleted.is_(False))
    if not include_hidden:
        stmt = stmt.where(Thread.is_hidden.is_(False))
    return stmt


def count_threads(query: Select | None = None, *, include_hidden: bool = False) -> int:
    """How many threads ``export_threads`` will look at (for a progress bar)."""
    stmt = _exportable(query, include_hidden).order_by(None)
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def export_threads(query: Select | None = None, *, include_hidden: bool = False) -> Iterator[dict]:
    """Visible threads (not deleted, not hidden) as import-format dicts, oldest id first.

    ``query`` narrows the set, e.g. ``select(Thread).where(Thread.author_id == user.id)``
    for one person's data. Rows are read in chunks, so any number of threads streams.
    """
    stmt = (
        _exportable(query, include_hidden)
        .order_by(None)
        .order_by(Thread.id)
        .options(
            selectinload(Thread.posts).selectinload(Post.author),
            selectinload(Thread.tags),
        )
        .limit(EXPORT_CHUNK)
    )
    last_id = 0
    while True:
        batch = db.session.scalars(stmt.where(Thread.id > last_id)).all()
        from .experiences.service import experiences_for_export

        experiences = experiences_for_export(batch)
        for thread in batch:
            item = thread_to_dict(thread, include_hidden)
            if item is not None:
                if thread.id in experiences:
                    item["experience"] = experiences[thread.id]
                yield item
        if len(batch) < EXPORT_CHUNK:
            return
        last_id = batch[-1].id


def dump_line(item: dict) -> str:
    """One JSON line (UTF-8 text kept readable, no trailing newline)."""
    return json.dumps(item, ensure_ascii=False)
