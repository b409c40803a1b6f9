"""Where a command writes its output, decided once for every command (CSV, JSON, JSONL, M3U8).

- ``-`` is standard output (the command keeps its logs on stderr);
- a special file (``/dev/stdout``, a terminal, a FIFO, a descriptor under ``/dev/fd``) is
  opened and written in place, never replaced;
- a symbolic link is written through: its target gets the new content, the link stays;
- a regular file (or a new one) is written to a temporary file beside it and renamed over it,
  so a reader never sees half of it and a failed write keeps the old one.

:meth:`OutputTarget.check` runs before any work: an unwritable folder is a UserError at once.
:meth:`OutputTarget.open` gives a stream for output that comes piece by piece (a timeline as
windows come); :meth:`OutputStream.close` then finishes it (the rename, for a regular file),
also after an interruption, so what was written is kept.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from emotrack.models.errors import UserError

STDOUT = "-"
_DESCRIPTOR_LINKS = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


class OutputTarget:
    """One output: ``spec`` is a path or ``-``; ``option`` names it in messages (``--csv``)."""

    def __init__(self, spec: str | Path, option: str = "output") -> None:
        self.spec, self.option = str(spec), option
        if self.spec == STDOUT:
            self.kind, self.path = "stdout", None
            return
        given = Path(self.spec).expanduser()
        real = Path(os.path.realpath(given))
        descriptor = self.spec.startswith(_DESCRIPTOR_LINKS) or (
            str(real).startswith("/proc/") and "/fd/" in str(real)
        )
        if descriptor or (real.exists() and not real.is_dir() and not real.is_file()):
            self.kind, self.path = "special", given  # written in place
        else:
            self.kind, self.path = "file", real  # a symlink's target; renamed over

    @property
    def is_stdout(self) -> bool:
        """``-``, or a name of this process's standard output (``/dev/stdout``, a FIFO or
        file it is redirected to): then nothing else may be printed there."""
        if self.kind == "stdout":
            return True
        try:
            mine, theirs = os.fstat(sys.stdout.fileno()), os.stat(self.path)
        except (OSError, ValueError, AttributeError):  # no stdout, or no such file yet
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

    def __str__(self) -> str:
        return "standard output" if self.is_stdout else self.spec

    def check(self) -> None:
        """UserError (exit 2) now, before any work, when this output cannot be written."""
        if self.kind == "stdout":
            return
        if self.kind == "special":
            if not os.access(self.path, os.W_OK):
                raise UserError(f"{self.option} {self.spec}: not writable; choose another output")
            return
        if self.path.is_dir():
            raise UserError(f"{self.option} {self.spec} is a folder; give a file name inside it")
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(
                f"{self.option} {self.spec}: cannot write into {folder} (read-only or not "
                "yours); choose another output path"
            )
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise UserError(f"{self.option} {self.spec}: the file is read-only; choose another")

    def write(self, text: str) -> None:
        """The whole output at once."""
        stream = self.open()
        try:
            stream.write(text)
        finally:
            stream.close()

    def open(self) -> OutputStream:
        """A text stream to write piece by piece; close it to finish (also when interrupted)."""
        try:
            if self.kind == "stdout":
                return OutputStream(sys.stdout, None, None, owned=False)
            if self.kind == "special":
                return OutputStream(open(self.path, "w", encoding="utf-8"), None, None)  # noqa: SIM115
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
            return OutputStream(handle, Path(tmp), self.path)
        except OSError as exc:
            raise UserError(f"{self.option} {self.spec}: cannot write ({exc.strerror})") from None


class OutputStream:
    """Text written to a target; :meth:`close` renames a regular file's temporary into place."""

    def __init__(self, handle: TextIO, tmp: Path | None, final: Path | None, owned=True) -> None:
        self.handle, self.tmp, self.final, self.owned = handle, tmp, final, owned
        self.closed = False

    def write(self, text: str) -> None:
        self.handle.write(text)

    def flush(self) -> None:
        """Hand what was written to the reader (a pipe, a FIFO, the temporary file)."""
        try:
            self.handle.flush()
        except BrokenPipeError:  # the reader went away: nothing more can reach it
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.flush()
        if self.tmp is None:
            if self.owned:
                self.handle.close()
            return
        try:
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600
            if self.final.exists():
                os.chmod(self.tmp, stat.S_IMODE(self.final.stat().st_mode))
            os.replace(self.tmp, self.final)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_targets(targets: list[OutputTarget]) -> None:
    """Check every target before work; at most one may be standard output."""
    on_stdout = [t.option for t in targets if t.is_stdout]
    if len(on_stdout) > 1:
        raise UserError(f"{' and '.join(on_stdout)} both write to standard output; pick one")
    for target in targets:
        target.check()
