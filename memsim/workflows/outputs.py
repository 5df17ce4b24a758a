"""Output folders that never hold a mix: ``memsim run`` folders published whole, sweep folders owned by a lock.

**Run folders.** :func:`check_run_folder` looks at ``--out`` before any compute: the folder's parent
must be (or become) a writable folder, ``--out`` must not be an existing file, and an existing
``--out`` must be empty, or a previous ``memsim run`` folder of the *same* config (its
``summary.json`` provenance holds the full resolved config; the top-level ``progress`` key is
ignored), which is simply replaced. A run of a different config, or any file memsim did not write
there, is refused (:class:`OutputError`, exit 2, naming what is there) unless ``overwrite``.
:func:`publish_run_folder` writes the whole set of outputs into a temporary folder beside ``--out``
(same parent, ``.NAME.*.tmp``), then swaps: the old folder is renamed aside (``.NAME.*.old``), the
new one renamed into place, the old one deleted. A kill at any moment leaves either the old set or
the new one under ``--out`` (never new figures beside an old summary); what it can leave beside
``--out`` is a hidden ``.NAME.*.tmp`` / ``.NAME.*.old`` folder, never read by memsim.

**Sweep folders.** :func:`folder_lock` owns a sweep folder through an advisory ``fcntl.flock`` on
``DIR/.memsim.lock`` (holding the PID and host of its owner): a second sweep on the same folder is
refused with that PID and host. The kernel releases a ``flock`` when its process dies, even by
SIGKILL, so the lock file a dead process left behind is taken over (with a message naming it).

**Full disk.** :func:`disk_full` turns ``OSError(ENOSPC)`` into an :class:`OutputError` saying what
was being written, which file, and that re-running the same command resumes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import MemsimError
from .io import UNHASHED, config_differences, config_hash

__all__ = ["OutputError", "check_run_folder", "publish_run_folder", "folder_lock", "disk_full", "LOCK_NAME",
           "SUMMARY_JSON", "RUN_FILE_SUFFIXES"]

LOCK_NAME = ".memsim.lock"
SUMMARY_JSON = "summary.json"
#: The files a ``memsim run`` folder holds besides ``summary.json``: figures and ``weights.npz``.
RUN_FILE_SUFFIXES = (".png", ".pdf", ".svg", ".npz")
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


class OutputError(MemsimError):
    """An output folder cannot be used as asked (in use, holds something else, not writable, disk full).

    The command line exits with status 2 and prints the message (which says what to do).
    """


# --- full disk -----------------------------------------------------------------------------------

def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` saying that the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


def disk_full(exc: OSError, path: str | Path, what: str, resume: str) -> OutputError:
    """The error to raise (``from exc``) when writing ``path`` hit a full disk.

    Parameters
    ----------
    exc : OSError
        The error of the write.
    path : str or pathlib.Path
        The file being written.
    what : str
        What the file is, for the message.
    resume : str
        How to resume, for the message.

    Returns
    -------
    memsim.errors.OutputError
        The error to raise.
    """
    return OutputError(f"No space left on the device while writing {what} {str(path)!r} ({exc.strerror}); the "
                       f"partial temporary file was removed and nothing finished was lost. Free some disk space, "
                       f"then {resume}.")


# --- run folders ---------------------------------------------------------------------------------

def _plain(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples -> lists, NumPy -> Python, NaN -> None)."""
    from .io import to_jsonable

    return json.loads(json.dumps(to_jsonable(data), default=list))


def _comparable(config_dict: Any) -> Any:
    if not isinstance(config_dict, dict):
        return config_dict
    return _plain({k: v for k, v in config_dict.items() if k not in UNHASHED})


def run_config_hash(config: Any) -> str | None:
    """The sweeps' :func:`~memsim.workflows.io.config_hash` of a run config (``None`` when it cannot be hashed)."""
    try:
        return config_hash(config)
    except (TypeError, ValueError):  # a non-finite value in the config: compared as dicts instead
        return None


def _describe(entries: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(e) for e in entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _stored_run_config(out: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """``(config of the memsim run stored in out, entries memsim did not write there)``."""
    entries = sorted(p.name for p in out.iterdir())
    config = None
    summary = out / SUMMARY_JSON
    if summary.is_file():
        try:
            data = json.loads(summary.read_text())
            prov = data.get("provenance") if isinstance(data, dict) else None
            if isinstance(prov, dict) and isinstance(prov.get("config"), dict) and "memsim_version" in prov:
                config = prov["config"]
        except (OSError, ValueError, UnicodeDecodeError):
            config = None
    if config is None:
        return None, entries
    foreign = [e for e in entries if e != SUMMARY_JSON
               and not ((out / e).is_file() and not (out / e).is_symlink() and e.endswith(RUN_FILE_SUFFIXES))]
    return config, foreign


#: Free bytes a run's outputs may need (summary.json, a few figures, a network's weights.npz); checked
#: before training where the platform reports free space.
RUN_OUTPUT_BYTES = 16 * 2 ** 20


def _check_parent(out: Path) -> None:
    """The nearest existing ancestor of ``out`` must be a folder we may write in."""
    parent = out.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"Cannot write the output folder {str(out)!r}: {str(parent)!r} is a file, not a folder. "
                          "Choose another --out.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write the output folder {str(out)!r}: the folder {str(parent)!r} is not "
                          "writable. Choose another --out.")
    try:
        free = shutil.disk_usage(parent).free
    except OSError:  # the platform does not say: nothing to check
        return
    if free < RUN_OUTPUT_BYTES:
        raise OutputError(f"Cannot write the output folder {str(out)!r}: {str(parent)!r} has {free} bytes free, "
                          f"fewer than the {RUN_OUTPUT_BYTES} a run's outputs (summary.json, figures, weights) "
                          "may need. Free some space or choose another --out.")


def check_run_folder(out_dir: str | Path, config: Any, overwrite: bool = False) -> None:
    """Refuse an output folder before any compute (raises :class:`OutputError`).

    Parameters
    ----------
    out_dir : str or Path
        ``--out`` of ``memsim run``.
    config : RunConfig
        The config about to run.
    overwrite : bool
        Replace a folder that holds another run or other files (never an existing *file*).
    """
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {str(out_dir)!r} is an existing file, not a folder; memsim run writes a folder "
                          "(summary.json and figures). Choose another --out.")
    _check_parent(out)
    if not out.is_dir():
        return
    stored, foreign = _stored_run_config(out)
    if stored is None:
        entries = foreign
        if entries and not overwrite:
            raise OutputError(f"--out {str(out_dir)!r} is not empty and is not a memsim run folder (it holds "
                              f"{_describe(entries)}); refusing to replace it. Use an empty or new folder, or "
                              "--overwrite to replace the whole folder (its files are deleted).")
        return
    if foreign and not overwrite:
        raise OutputError(f"--out {str(out_dir)!r} holds a memsim run and files memsim did not write "
                          f"({_describe(foreign)}); refusing to delete them. Move them away, use another --out, or "
                          "--overwrite to replace the whole folder.")
    if _comparable(stored) != _comparable(config.to_dict()) and not overwrite:
        diff = config_differences(_comparable(stored), _comparable(config.to_dict()))
        raise OutputError(f"--out {str(out_dir)!r} holds a memsim run of a different config (in "
                          f"{str(out / SUMMARY_JSON)!r}); refusing to replace it. Changes: {diff}. Use another "
                          "--out, or --overwrite to replace it.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def publish_run_folder(out_dir: str | Path, write: Callable[[Path], None], overwrite: bool = False,
                       config: Any = None) -> Path:
    """Write a run's whole set of outputs into a temporary folder beside ``out_dir``, then swap it in.

    Parameters
    ----------
    out_dir : str or Path
        The output folder (replaced as a whole).
    write : callable
        ``write(folder)`` writes every output file into ``folder``.
    overwrite : bool
        See :func:`check_run_folder`.
    config : RunConfig, optional
        When given, :func:`check_run_folder` runs again right before the swap (the folder may have
        changed during the training).

    Returns
    -------
    Path
        ``out_dir``.
    """
    out = Path(out_dir).absolute()
    if config is not None:
        check_run_folder(out_dir, config, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    old = None
    try:
        try:
            write(tmp)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700: give the folder ordinary permissions
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(exc, out, "the run folder", "re-run the same command") from exc
            raise
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.rename(out, old / "previous")  # the old set, aside (same file system: atomic)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old / "previous", out)  # put the old set back
                raise
        else:
            os.rename(tmp, out)
    finally:
        if tmp.exists():
            _remove(tmp)
        if old is not None:
            _remove(old)
    return Path(out_dir)


# --- sweep folders: the lock -----------------------------------------------------------------------

def _holder(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


#: How long a refused process waits for the lock's owner to write its PID and host (it writes them
#: right after taking the lock, so an empty lock file is seen only in that instant).
HOLDER_WAIT_S = 2.0


def _read_holder(fd: int) -> dict[str, Any]:
    """The owner's ``{"pid", "host", "what"}`` from a lock file held by another process, waiting up to
    ``HOLDER_WAIT_S`` for it to be written; ``{}`` when it never is."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        info = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
        if info.get("pid") is not None or time.monotonic() >= deadline:
            return info
        time.sleep(0.005)


@contextmanager
def folder_lock(folder: str | Path, what: str = "sweep", log: Callable[[str], None] = print) -> Iterator[Path]:
    """Own ``folder`` for the ``with`` block: an exclusive ``flock`` on ``folder/.memsim.lock``.

    Raises :class:`OutputError` naming the PID and host of the owner when another process holds it.
    The lock file holds ``{"pid", "host", "what"}``; it is removed when the block ends. A lock file
    left by a process that died (whose ``flock`` the kernel released) is taken over with a message.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder to own.
    what : str
        What runs there (for the message another process sees).
    log : callable
        Receives the message when a stale lock is taken over.
    """
    import fcntl

    folder = Path(folder)
    path = folder / LOCK_NAME
    host = socket.gethostname()
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = _read_holder(fd)
            finally:
                os.close(fd)
            raise OutputError(f"The folder {str(folder)!r} is in use by another memsim {info.get('what', 'sweep')} "
                              f"(PID {info.get('pid', '?')} on host {info.get('host', '?')}, lock file "
                              f"{str(path)!r}); refusing to run a second one there. Wait for it to finish, stop it, "
                              "or use another --out.") from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the file we locked must still be the one at `path` (a finishing owner removes it)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
        if previous.get("pid") is not None:
            dead = previous.get("host") == host and not _pid_alive(previous["pid"])
            log(f"Taking over the stale lock {str(path)!r} of PID {previous['pid']} on host {previous.get('host', '?')}"
                + (" (no longer running)" if dead else " (it ended without releasing it)"))
        data = json.dumps({"pid": os.getpid(), "host": host, "what": what}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        yield path
    finally:
        try:
            os.unlink(path)  # still ours: nobody else can hold it now
        except FileNotFoundError:
            pass
        os.close(fd)  # releases the flock
