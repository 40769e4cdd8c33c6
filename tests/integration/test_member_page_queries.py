"""A signed-in member's list pages cost a fixed number of SQL statements, however many rows.

Members get uncached pages (forum/cache.py), so an N+1 here is paid on every request.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from forum.extensions import db
from forum.threads import service as threads
from tests import factories


def statements_for(client, path: str) -> int:
    """SQL statements this thread sends while serving ``path`` (not the index follower)."""
    count = 0
    me = threading.get_ident()

    def counter(*_args, **_kw):
        nonlocal count
        count += threading.get_ident() == me

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return count


def busy_threads(people, n: int) -> None:
    for i in range(n):
        t = factories.thread(
            people[i % len(people)],
            title=f"Bloods question {i}",
            conditions=("crohns",),
            replies=[(p, f"Reply {i}") for p in people[:3]],
        )
        threads.mark_helpful(people[-1], t.posts[1])


@pytest.mark.parametrize("tab", ["latest", "unanswered", "helpful"])
def test_signed_in_condition_page_statements_do_not_grow_with_rows(app, client, auth, tab):
    app.config["PER_PAGE"] = 30
    people = [factories.user(f"writer{i}") for i in range(5)]
    factories.user("sunny_days")
    auth.login()
    busy_threads(people, 2)
    path = f"/conditions/crohns?tab={tab}"
    few = statements_for(client, path)
    busy_threads(people, 28)
    many = statements_for(client, path)
    assert many == few, f"{few} statements for 2 rows, {many} for 30: a per-row lookup"
    assert many <= 25, f"{many} statements for one signed-in condition page"
    html = client.get(path).get_data(as_text=True)
    if tab != "unanswered":
        assert html.count("Bloods question") >= 30


def test_remembered_total_counts_a_new_question_at_once(app, client, auth):
    app.config["PER_PAGE"] = 2
    factories.user("sunny_days")
    auth.login()
    for i in range(2):
        factories.thread(title=f"Mouth ulcers {i}", conditions=("crohns",))
    assert "page=2" not in client.get("/conditions/crohns").get_data(as_text=True)
    factories.thread(title="Mouth ulcers again", conditions=("crohns",))
    html = client.get("/conditions/crohns").get_data(as_text=True)
    assert "page=2" in html  # the third question makes a second page at once
    assert "Mouth ulcers 0" in client.get("/conditions/crohns?page=2").get_data(as_text=True)


def test_a_rare_tag_and_a_common_tag_list_the_same_threads_in_order(app, client, auth):
    factories.user("sunny_days")
    auth.login()
    for i in range(6):
        factories.thread(title=f"Common {i}", conditions=("lupus",))
    factories.thread(title="Rare one", conditions=("lupus", "uveitis"))
    factories.thread(title="Last common", conditions=("lupus",))
    common = client.get("/conditions/lupus").get_data(as_text=True)
    assert common.index("Last common") < common.index("Rare one") < common.index("Common 5")
    assert "Rare one" in client.get("/conditions/uveitis").get_data(as_text=True)


def _list_statement(client, path: str) -> tuple[str, object]:
    """The SQL (and parameters) of the page's thread list query."""
    seen = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        if "ORDER BY threads.helpful_count DESC" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert seen, "no most-helpful list query"
    return seen[-1]


@pytest.mark.parametrize("path", ["/?tab=helpful", "/conditions/crohns?tab=helpful"])
def test_most_helpful_tab_reads_its_page_in_index_order(app, client, auth, database_url, path):
    """A page of 20 must not sort every matching thread: at 100,000 threads that sort was
    most of the member's wait. (SQLite's plan; PostgreSQL picks by table statistics.)"""
    if database_url:
        pytest.skip("the plan is checked on SQLite; PostgreSQL's depends on table statistics")
    people = [factories.user(f"writer{i}") for i in range(5)]
    factories.user("sunny_days")
    auth.login()
    busy_threads(people, 12)
    for i in range(30):
        factories.thread(people[i % 5], title=f"Other {i}", conditions=("crohns",))
    statement, parameters = _list_statement(client, path)
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "TEMP B-TREE FOR ORDER BY" not in details, details
    assert "ix_threads_helpful_activity" in details, details


def _fresh_statements(client, path: str) -> int:
    db.session.expunge_all()  # the page loads what it needs, as a fresh request does
    return statements_for(client, path)


def test_signed_in_thread_page_statements_do_not_grow_with_replies(app, client, auth):
    people = [factories.user(f"writer{i}") for i in range(5)]
    factories.user("sunny_days")
    auth.login()
    paths = []
    for replies in (2, 40):
        t = factories.thread(people[0], title=f"{replies} replies", conditions=("crohns",))
        for i in range(replies):
            threads.add_reply(people[1 + i % 4], t, f"Reply {i}")
        paths.append(f"/t/{t.id}")
    statements_for(client, "/")  # once-per-process work (settings, the index) done here
    few, many = (_fresh_statements(client, path) for path in paths)
    assert many == few, f"{few} statements for 2 replies, {many} for 40: a per-post lookup"
    assert many <= 16, f"{many} statements for one signed-in thread page"
    html = client.get(paths[1]).get_data(as_text=True)
    assert html.count('class="post"') + html.count('class="post question"') == 41
