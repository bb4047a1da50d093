"""Output files: written atomically where a file can be replaced, and through anything else.

`-o` may name a regular file or a new path (written to a temporary file beside it, then
renamed into place, so a reader never sees half a file and a failure leaves an existing
file as it was), a symlink (followed: its target is written so), or a FIFO or a device such
as /dev/stdout (opened and written in place: replacing it with a regular file would be wrong).
"""
from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def write_bytes(target: str | Path, data: bytes, chosen: bool = True) -> None:
    """Write `data` to `target` (see the module docstring for what each kind of target gets).

    `chosen=False` for a path archc made up itself (`archc emit`'s generated/NAME.py, named
    after the spec): a symlink, FIFO or device found there was not chosen by the user, so it
    is replaced by a regular file, never written through."""
    if not chosen:
        if Path(target).is_dir() and not Path(target).is_symlink():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        with atomic_path(target, follow=False) as tmp:
            tmp.write_bytes(data)
        return
    real, in_place = _resolve(Path(target))
    if in_place:
        with open(real, "wb") as f:
            f.write(data)
        return
    with atomic_path(real) as tmp:
        tmp.write_bytes(data)


@contextmanager
def atomic_path(target: str | Path, follow: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success its content becomes `target`'s.

    For a regular file or a new path (a symlink is followed to its target) the temporary file
    is beside the target and renamed into place; for a FIFO or a device its bytes are copied
    into the target. On any failure, SIGTERM included, the temporary file is removed and an
    existing target stays untouched.
    """
    real, in_place = _resolve(Path(target)) if follow else (Path(os.path.abspath(target)), False)
    with _terminate_raises():
        if in_place:
            with tempfile.TemporaryDirectory() as folder:
                tmp = Path(folder) / f"output{real.suffix}"
                yield tmp
                with open(tmp, "rb") as src, open(real, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return
        tmp = None
        try:
            fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=f".tmp{real.suffix}", dir=real.parent)
            tmp = Path(name)
            os.close(fd)
            os.chmod(tmp, _mode_for(real, follow))  # mkstemp makes it private; give it the file's mode
            yield tmp
            os.replace(tmp, real)
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise


def _resolve(target: Path) -> tuple[Path, bool]:
    """The path to write (symlinks followed) and whether to write it in place (not a regular file)."""
    try:
        mode = os.stat(target).st_mode  # follows symlinks
    except FileNotFoundError:  # a new file, or a symlink to one: created where the link points
        return Path(os.path.realpath(target)), False
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if stat.S_ISREG(mode):
        return Path(os.path.realpath(target)), False
    return target, True  # a FIFO, a device, a socket: /dev/stdout is a link to one


def _mode_for(target: Path, follow: bool = True) -> int:
    """An existing file keeps its permissions; a new one (or one replacing a link, a FIFO or a
    device) gets a normal file's (0666 less the umask)."""
    try:
        info = os.stat(target) if follow else os.lstat(target)
        if not follow and not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError
        return stat.S_IMODE(info.st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """While a temporary file may exist, SIGTERM raises SystemExit, so the cleanup above runs.

    Only where SIGTERM has its default action (which would kill the process without cleanup)
    and in the main thread (the only one Python delivers signals to); the default is restored.
    SIGKILL cannot be caught: it can leave a hidden `.NAME.*.tmp` file beside the target.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
