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
# Sent inside the moderator's transaction: post= or thread=, action= ("hide", "unhide",
# "lock", "delete", ...), moderator=. Notifications tell the author.
moderation_action = _signals.signal("moderation-action")
