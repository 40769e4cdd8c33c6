"""Extension objects, created unbound and initialised in create_app."""

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Integer, MetaData, Table, event
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def never_reuses_ids(table: Table) -> bool:
    """Whether ``table`` has a single integer primary key, so ids that were handed out
    (in cookies, links, notifications, emails) must never be handed out again."""
    key = list(table.primary_key.columns)
    return len(key) == 1 and isinstance(key[0].type, Integer) and not key[0].foreign_keys


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


@event.listens_for(db.Model, "after_mapper_constructed", propagate=True)
def _never_reuse_ids(mapper, cls) -> None:
    """Every table with one integer key gets ``AUTOINCREMENT`` on SQLite.

    Without it SQLite gives the next row the highest *freed* id again: a deleted
    account's id would go to the next new account. PostgreSQL's sequences never reuse.
    """
    table = cls.__dict__.get("__table__")
    if isinstance(table, Table) and never_reuses_ids(table):
        table.dialect_kwargs["sqlite_autoincrement"] = True


login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to do that."
login_manager.login_message_category = "info"
csrf = CSRFProtect()
