"""What every command shares: its exit codes and the one handler that turns errors into them.

Exit codes: 0 ok, 1 some work failed (or training stopped), 2 bad input or usage (and a
missing extra), 130 interrupted (Ctrl+C), 143 terminated (SIGTERM). A :class:`UserError`
prints ``PROG: error: MESSAGE`` (the message names the problem and the fix), never a
traceback; anything already written stays written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from emotrack.models.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

# what the `train` extra installs: a command that needs one of these says so instead of failing
TRAIN_MODULES = frozenset(
    {"torch", "torchaudio", "torchvision", "onnx", "matplotlib", "librosa", "lameenc", "tqdm",
     "transformers", "timm", "mambavision", "kagglehub"}
)  # fmt: skip
TRAIN_EXTRA = "pip install 'emotrack[train]'"


def needs_train_extra(exc: ModuleNotFoundError) -> bool:
    """Whether an import failed because the `train` extra is not installed."""
    return (exc.name or "").partition(".")[0] in TRAIN_MODULES


def train_extra_message(prog: str) -> str:
    return (
        f"{prog} needs the train extra (PyTorch and friends), which this install lacks; "
        f"install it with {TRAIN_EXTRA}"
    )


def error(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)


def guarded(prog: str, work: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """``work()``'s exit code, or the code of the error it raised, with a one-line message on
    stderr: UserError and a missing extra exit 2, Ctrl+C 130 (with ``interrupted`` said)."""
    try:
        return int(work() or EXIT_OK)
    except UserError as exc:
        error(prog, str(exc))
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        if not needs_train_extra(exc):
            raise
        error(prog, train_extra_message(prog))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
