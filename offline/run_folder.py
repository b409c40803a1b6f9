"""A run folder: its file names, ``best.pt`` (the best epoch so far), ``last.pt`` after every
epoch (weights, optimiser, scheduler, the epochs' history and every rank's random streams) and
resuming a trainer from it. Rank 0 alone writes files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from emotrack.models.atomic import write_json
from emotrack.models.emotion import EmotionModel, atomic_save, checkpoint_dict
from emotrack.offline.distributed import Dist
from emotrack.offline.log import log

if TYPE_CHECKING:
    from emotrack.offline.trainer import Trainer

FILES = {
    "config": "config.json",
    "audio": "audio.json",
    "labels": "labels.json",
    "split": "split.json",
    "history": "history.json",
    "best": "best.pt",
    "last": "last.pt",
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(augment: torch.Generator) -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "augment": augment.get_state(),
    }


def _set_rng_state(state: dict, augment: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    augment.set_state(state["augment"])


def gather_rng(ctx: Dist, augment: torch.Generator) -> list[dict]:
    """Every rank's random streams, in rank order (on every rank)."""
    state = _rng_state(augment)
    if not ctx.enabled:
        return [state]
    states: list = [None] * ctx.world
    torch.distributed.all_gather_object(states, state)
    return states


def save_best(model: EmotionModel, run_dir: Path, epoch: int, val, train_config: dict) -> None:
    """``best.pt``: the weights of the best epoch so far and its val scores."""
    atomic_save(
        checkpoint_dict(model, epoch=epoch, val=val, train_config=train_config),
        run_dir / FILES["best"],
    )


def save_last(trainer: Trainer, rng: list[dict]) -> None:
    """``last.pt`` and ``history.json`` after an epoch: everything needed to resume."""
    atomic_save(
        checkpoint_dict(
            trainer.model,
            epoch=trainer.epoch,
            optimizer=trainer.optimizer.state_dict(),
            scheduler=trainer.scheduler.state_dict(),
            scaler=trainer.scaler.state_dict(),
            rng=rng,
            history=trainer.history,
            best_score=trainer.best_score,
            best_epoch=trainer.best_epoch,
            bad_epochs=trainer.bad_epochs,
            train_config=trainer.config.to_dict(),
        ),
        trainer.run_dir / FILES["last"],
    )
    write_json(trainer.run_dir / FILES["history"], trainer.history)


def restore(trainer: Trainer, state: dict) -> None:
    """Put a run's ``last.pt`` back into a freshly built trainer."""
    trainer.model.load_state_dict(state["state_dict"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    if trainer.config.scheduler == "cosine":  # --epochs may have grown
        trainer.scheduler.T_max = trainer.config.epochs * trainer.steps
    trainer.scaler.load_state_dict(state["scaler"])
    trainer.epoch = state["epoch"]
    trainer.history = state["history"]
    trainer.best_score, trainer.best_epoch = state["best_score"], state["best_epoch"]
    trainer.bad_epochs = state["bad_epochs"]
    rng, ctx = state["rng"], trainer.ctx
    if len(rng) == ctx.world:
        _set_rng_state(rng[ctx.rank], trainer.augment_rng)
    else:
        log(f"resuming with {ctx.world} processes (was {len(rng)}): new random streams")
        seed_everything(trainer.config.seed + 7919 * trainer.epoch + ctx.rank)
    if ctx.main:
        log(f"resuming {trainer.run_dir} after epoch {trainer.epoch}")
