"""Where a study lives, and who may write it at once.

- An RDB URL (``sqlite:///…``, ``postgresql+psycopg2://…``, ``mysql+pymysql://…``) is Optuna's RDBStorage.
- ``journal:PATH`` is Optuna's JournalStorage on a file: several worker processes on one machine.
- SQLite takes one process: Optuna's documentation says it does not recommend SQLite for parallel
  optimization (``RDBStorage``'s note and its FAQ on SQLite concurrency, Optuna 5.0) and points to
  JournalStorage on one machine and PostgreSQL/MySQL across machines. A search holds an OS file lock
  beside the SQLite database (``search.db.lock``) for as long as it runs; a second process on the same
  file is refused at once with that advice. The OS drops the lock when its process dies, however it dies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal:"


def journal_path(url: str) -> Path | None:
    """The file of a ``journal:PATH`` storage (``journal:///abs/path`` also works), else None."""
    if not url.startswith(JOURNAL):
        return None
    rest = url[len(JOURNAL) :]
    if rest.startswith("//"):  # journal:///abs/path → /abs/path
        rest = rest[2:]
    if not rest:
        raise UserError(_("--storage journal: needs a file, e.g. journal:search.journal"))
    return Path(rest)


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None: another database, or SQLite in memory)."""
    if journal_path(url) is not None:
        return None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def journal_storage(path: Path) -> optuna.storages.JournalStorage:
    """JournalStorage on ``path`` with an open-file lock (works on Windows too, where the default symlink
    lock needs a privilege)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


@contextlib.contextmanager
def one_process(url: str) -> Iterator[None]:
    """Hold the SQLite database for this process while the block runs; refuse in one line when another
    process holds it. Other storages take several processes: nothing to hold."""
    db = sqlite_file(url)
    if db is None:
        yield
        return
    from filelock import FileLock, Timeout

    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(db) + ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(
            _(
                "{db} is in use by another search: SQLite takes one process at a time (Optuna's advice: "
                "JournalStorage on one machine, PostgreSQL or MySQL across machines); for several workers "
                "pass --storage journal:FILE or a PostgreSQL/MySQL URL (docs/search.md)"
            ).format(db=db)
        ) from None
    try:
        yield
    finally:
        lock.release()
