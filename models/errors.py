"""The one error type users see: a message naming the problem and the fix, no traceback."""


class UserError(Exception):
    """Bad input or an unusable environment. The CLI prints the message and exits 2."""


class AudioError(UserError):
    """Audio that cannot be used; the message names the file, the problem and the fix."""


def one_line(exc: BaseException) -> str:
    """An exception as one line for a message: its last non-empty line (no reprs' angle
    brackets, at most 300 characters), or its type's name when it says nothing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text.replace("<", "").replace(">", "")[:300]
