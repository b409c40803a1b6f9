"""Who is who in the database: a song file's content hash, and the id of the model setup
that made a row's numbers (so a rerun with the same file and model skips, another re-tracks).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HASH_NAME = "sha256"
HASH_CHARS = 32  # of the hex digest kept: 128 bits
MODEL_HASH_CHARS = 16


def content_hash(path: str | Path) -> str:
    """The file's bytes, hashed (read in blocks: any size)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, HASH_NAME).hexdigest()[:HASH_CHARS]


def model_id(model_file: str | Path, backbone: str, step_seconds: float, precision: str) -> str:
    """``backbone:hash:hopH:precision``: the hash covers the model file's bytes, the step
    and the precision, everything that changes a song's numbers; a readable prefix tells
    people which model it was."""
    setup = {"model": content_hash(model_file), "hop": float(step_seconds), "precision": precision}
    digest = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()
    return f"{backbone}:{digest[:MODEL_HASH_CHARS]}:hop{step_seconds:g}:{precision}"
