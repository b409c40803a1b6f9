"""The one error type users see: a message naming the problem and the fix, no traceback."""


class UserError(Exception):
    """Bad input or an unusable environment. The CLI prints the message and exits 2."""


class AudioError(UserError):
    """Audio that cannot be used; the message names the file, the problem and the fix."""
