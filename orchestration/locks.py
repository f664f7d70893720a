"""One build at a time per warehouse folder, and a clear word when something else holds it.

`ces build` and `ces reload` take `build_lock` on `<warehouse>/.ces_build.lock` before
anything is read or written: a second build on the same warehouse exits at once naming the
first (its pid and start), instead of colliding with it on DuckDB's lock half-way and
printing a summary from the other build's status file. The lock is the operating system's
(`flock`), so a killed build never leaves it behind. Runs launched by the Dagster daemon are
kept apart from each other by the `ces_warehouse` concurrency pool instead.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".ces_build.lock"


class WarehouseBusyError(Exception):
    """Another build, or another program, holds what this build must write."""


@contextmanager
def build_lock(warehouse_dir: Path) -> Iterator[None]:
    """Hold the warehouse folder's build lock, or raise WarehouseBusyError naming the holder."""
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    handle = (warehouse_dir / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "holder unknown"
            raise WarehouseBusyError(
                f"another build is running on {warehouse_dir} ({holder}); wait for it to "
                "finish, or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
        handle.write(f"pid {os.getpid()}, started {started} UTC")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def pid_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
