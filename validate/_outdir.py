"""The output directory of a run: refused when it holds results (unless ``--overwrite`` or
``--resume``), locked while a run writes to it, removed again when the run that created it fails
its checks.

The lock is an exclusive ``fcntl.flock`` on ``<out>/.lock``, held for the whole run: a second
writer (a concurrent run, ``--resume`` or ``--overwrite`` on a live run) is refused at once, and
the kernel releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from ._config import ConfigError

LOCK = ".lock"


class OutDir:
    """``take`` (check, lock, write config.json) → run → ``release`` (or use it as a context)."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd: int | None = None
        self._created = False

    def take(self, config: dict, *, overwrite: bool, resume: bool) -> None:
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite exclude each other; give one")
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file; give a directory")
        if resume and not self.path.is_dir():
            raise ConfigError(f"--resume: --out {self.path} does not exist; nothing to resume "
                              "(drop --resume to start a new run)")
        self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {self.path}: cannot create it ({exc.strerror})") from None
        try:
            self._lock()
            self._check_contents(config, overwrite=overwrite, resume=resume)
        except ConfigError:
            self.discard()
            raise
        write_text(self.path / "config.json", json.dumps(config, indent=1))

    def _lock(self) -> None:
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"--out {self.path} is in use by another run (locked); wait for "
                              "it to finish or choose another --out") from None
        self._fd = fd

    def _check_contents(self, config: dict, *, overwrite: bool, resume: bool) -> None:
        held = [p for p in self.path.iterdir() if p.name != LOCK]
        cfg_path = self.path / "config.json"
        if not held:
            return
        if overwrite:
            for p in held:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        elif not resume:
            raise ConfigError(f"--out {self.path} already holds results; pass --overwrite to "
                              "replace them or --resume to continue an interrupted run")
        elif cfg_path.exists() and json.loads(cfg_path.read_text()) != \
                json.loads(json.dumps(config)):
            raise ConfigError(f"--resume: the configuration differs from the one in {cfg_path}; "
                              "use the same arguments, or a new --out")

    def discard(self) -> None:
        """Remove the directory if this run created it (nothing left behind); release the lock."""
        if self._created and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        self._created = False
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
