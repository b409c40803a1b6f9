"""What a scan has to do: the files found, checked against the database.

A file already in the database with the same size, modification time and model is done (a
failed one too, unless failures are retried). A file whose size or time changed is hashed
again; if its content is unchanged (only touched, or its tags edited) it is not tracked
again. Everything else (new files, changed files, another model) is tracked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from emotrack.library.decode import Task
from emotrack.library.discovery import Found
from emotrack.library.store import Store


@dataclass
class Todo:
    tasks: list[Task] = field(default_factory=list)
    done: int = 0  # already in the database, same file and model
    to_tag: list[str] = field(default_factory=list)  # done, but --write-tags has not tagged them
    problems: list[str] = field(default_factory=list)  # paths given that hold no audio

    @property
    def found(self) -> int:
        return len(self.tasks) + self.done


def plan(
    found: Iterable[Found], store: Store, model_id: str, retry_failed: bool, tags: bool
) -> Todo:
    todo = Todo()
    for item in found:
        if item.problem is not None:
            todo.problems.append(item.problem)
            continue
        path = str(item.path)
        known = store.lookup(path)
        same_model = known is not None and known.model_id == model_id
        if same_model and not (retry_failed and known.status == "failed"):
            try:
                info = os.stat(path)
            except OSError:
                info = None
            if info is not None and (info.st_size, info.st_mtime_ns) == (
                known.size,
                known.mtime_ns,
            ):
                todo.done += 1
                if tags and known.status == "ok" and known.tagged_hash != known.content_hash:
                    todo.to_tag.append(path)
                continue
            usable = known.status == "ok" or not retry_failed
            todo.tasks.append(Task(path, known.content_hash if usable else None))
        else:
            todo.tasks.append(Task(path))
    return todo
