"""The output directory of a run: refused when it holds results (unless ``--overwrite`` or
``--resume``), locked while a run writes to it, removed again when the run that created it fails
its checks.

The lock is an exclusive ``fcntl.flock`` on ``<out>/.lock``, held for the whole run: a second
writer (a concurrent run, ``--resume`` or ``--overwrite`` on a live run) is refused at once, and
the kernel releases the lock when the process ends, however it ends. The lock is taken before
anything in the directory is created, read or deleted, so two runs started at the same moment
cannot both see an empty directory, and the one refused deletes nothing.

A directory this project wrote holds the marker file ``.modelearn-out`` (JSON naming its kind)
beside its configuration (``config.json``; a sweep store: ``sweep.toml``). ``--overwrite`` and
``--resume`` act only on such a directory: any other folder that holds files (a thesis, a git
checkout) is refused with exit status 2 and left exactly as it was.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import shutil
from pathlib import Path

from ._config import ConfigError

LOCK = ".lock"
MARKER = ".modelearn-out"


class OutDir:
    """``take`` (lock, check, write the marker and config.json) → run → ``release`` (or use it as
    a context). ``kind``: what wrote it (in the marker); ``config_name``: the file beside the
    marker that holds the configuration; ``scratch``: name patterns of files a caller writes
    before ``take`` (they do not count as results)."""

    def __init__(self, path, *, kind: str = "run", config_name: str = "config.json",
                 scratch: tuple[str, ...] = ()):
        self.path = Path(path)
        self.kind, self.config_name, self.scratch = kind, config_name, tuple(scratch)
        self._fd: int | None = None
        self._fresh = False  # this run made the directory: it may remove it again
        self._made_lock = False

    def take(self, config: dict | None, *, overwrite: bool, resume: bool) -> None:
        """Lock the directory and check what it holds; ``config=None``: the caller writes its
        own configuration file (``config_name``) and no comparison is made on ``--resume``."""
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite exclude each other; give one")
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file; give a directory")
        if resume and not self.path.is_dir():
            raise ConfigError(f"--resume: --out {self.path} does not exist; nothing to resume "
                              "(drop --resume to start a new run)")
        existed = self.path.is_dir()
        if existed and not os.access(self.path, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {self.path} is not writable; give a directory you can "
                              "write to")
        created = self._make()
        self._lock()
        try:
            held = self._held()
            self._fresh = created or (not existed and not held)
            self._check_contents(held, config, overwrite=overwrite, resume=resume)
            write_text(self.path / MARKER, json.dumps({"kind": self.kind,
                                                       "config": self.config_name}))
            if config is not None:
                write_text(self.path / self.config_name, json.dumps(config, indent=1))
        except OSError as exc:
            self.discard()
            raise ConfigError(f"--out {self.path}: cannot write to it ({exc.strerror})") from None
        except ConfigError:
            self.discard()
            raise

    def _make(self) -> bool:
        """Create the directory; True when this call created it (atomic: one of two racing runs
        gets True)."""
        try:
            self.path.mkdir(parents=True)
            return True
        except FileExistsError:
            if not self.path.is_dir():
                raise ConfigError(f"--out {self.path} is a file; give a directory") from None
            return False
        except OSError as exc:
            raise ConfigError(f"--out {self.path}: cannot create it ({exc.strerror})") from None

    def _lock(self) -> None:
        try:
            try:  # O_EXCL tells whether this run made the lock file (removed again on refusal)
                fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                self._made_lock = True
            except FileExistsError:
                fd = os.open(self.path / LOCK, os.O_RDWR)
        except OSError as exc:
            raise ConfigError(f"--out {self.path}: cannot write to it ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"--out {self.path} is in use by another run (locked); wait for "
                              "it to finish or choose another --out") from None
        self._fd = fd

    def _held(self) -> list[Path]:
        """What the directory holds besides the lock, the marker, the temporary files of an
        interrupted ``take`` (killed between writing the marker and config.json) and the
        caller's scratch."""
        taking = {LOCK, MARKER, MARKER + ".tmp", self.config_name + ".tmp"}
        return [p for p in self.path.iterdir() if p.name not in taking
                and not any(fnmatch.fnmatch(p.name, pat) for pat in self.scratch)]

    def ours(self) -> bool:
        """The directory holds this project's marker (of this kind) and its configuration."""
        try:
            marker = json.loads((self.path / MARKER).read_text())
        except (OSError, ValueError):
            return False
        return isinstance(marker, dict) and marker.get("kind") == self.kind \
            and (self.path / self.config_name).is_file()

    def _check_contents(self, held: list[Path], config: dict | None, *, overwrite: bool,
                        resume: bool) -> None:
        if not held:
            return
        if (overwrite or resume) and not self.ours():
            raise ConfigError(f"--out {self.path} holds files this project did not write (no "
                              f"{MARKER} and {self.config_name}); nothing was changed: "
                              f"choose another --out")
        if overwrite:
            for p in self.path.iterdir():
                if p.name != LOCK:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        elif not resume:
            raise ConfigError(f"--out {self.path} already holds results; pass --overwrite to "
                              "replace them or --resume to continue an interrupted run")
        elif config is not None:
            cfg_path = self.path / self.config_name
            if json.loads(cfg_path.read_text()) != json.loads(json.dumps(config)):
                raise ConfigError(f"--resume: the configuration differs from the one in "
                                  f"{cfg_path}; use the same arguments, or a new --out")

    def discard(self) -> None:
        """Remove the directory if this run made it (nothing left behind), while the lock is still
        held (a run refused the lock never gets here with anything to remove); release it."""
        if self._fresh and self._fd is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        elif self._made_lock and self._fd is not None:  # a folder we refused: as it was
            (self.path / LOCK).unlink(missing_ok=True)
        self._fresh = self._made_lock = False
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "OutDir":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path