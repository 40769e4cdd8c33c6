"""In-process signals the services send, so feature packages can react without the
core importing them.

Signals named ``*_created`` / ``*_changed`` are sent *inside* the service's
transaction, before commit: a receiver that adds rows (a notification, an audit
entry) commits or rolls back together with the change. ``committed`` is sent after a
successful commit (the search index applies its pending changes then).
"""

from blinker import Namespace

_signals = Namespace()

thread_created = _signals.signal("thread-created")  # thread
reply_created = _signals.signal("reply-created")  # post
post_edited = _signals.signal("post-edited")  # post
post_deleted = _signals.signal("post-deleted")  # post
helpful_marked = _signals.signal("helpful-marked")  # post, user
resolved_marked = _signals.signal("resolved-marked")  # thread, post
committed = _signals.signal("committed")  # no arguments
# A bulk import's batch, stored with bulk inserts (``threads.service.persist_imported``):
# threads= a list of ``StoredThread`` (id, author_id, import_key), sent once per batch
# inside its transaction; a ValidationError refuses the whole batch (the importer then
# retries its threads one by one). Sent *instead of* ``thread_created``, which needs
# the ORM rows: a ``thread_created`` receiver that imports must act on too connects
# here as well and says so with ``handles_imports``; while a receiver that does not
# is connected, imports go through ``thread_created`` one thread at a time.
threads_imported = _signals.signal("threads-imported")
# Sent inside the moderator's transaction: post= or thread=, action= ("hide", "unhide",
# "lock", "delete", ...), moderator=. Notifications tell the author.
moderation_action = _signals.signal("moderation-action")

_import_aware: set = set()


def handles_imports(receiver):
    """Mark a ``thread_created`` receiver whose work for imported threads is done by a
    ``threads_imported`` receiver (or is none: imports are exempt from it)."""
    _import_aware.add(receiver)
    return receiver


def per_thread_receivers(sender) -> list:
    """``thread_created`` receivers that need one signal per imported thread."""
    return [r for r in thread_created.receivers_for(sender) if r not in _import_aware]
