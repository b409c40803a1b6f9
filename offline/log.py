"""One line on stderr that does not break a progress bar: how training talks to its user."""

from __future__ import annotations

import sys

from tqdm import tqdm


def log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
