"""The training loop shared by both architectures, with checkpoints that make a retry resume.

A checkpoint is written after every epoch into ``TRELLIS_CHECKPOINT_DIR``. It carries the model,
the optimiser and both random generators (dropout and shuffling), so an attempt that resumes
after preemption or a crash ends with the very same weights as one that was never interrupted.
A checkpoint made with different settings or data is ignored, not trusted.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from pipelines.examples.digits import nets, runtime

if TYPE_CHECKING:
    from pipelines.examples.digits.train import Hyper


def fit(
    arch: str, hyper: Hyper, x: torch.Tensor, y: torch.Tensor, *, seed: int, config: dict[str, Any]
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train from scratch, or from the checkpoint of an earlier attempt with the same config."""
    model = nets.build(arch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=hyper.lr, weight_decay=hyper.weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    checkpoint = _checkpoint_path(arch)
    first_epoch = 1 + _resume(checkpoint, config, model, optimiser, shuffle, history)

    n = len(x)
    for epoch in range(first_epoch, hyper.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=shuffle)
        total_loss, correct = 0.0, 0
        for start in range(0, n, hyper.batch_size):
            batch = order[start : start + hyper.batch_size]
            logits = model(x[batch])
            loss = F.cross_entropy(logits, y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == y[batch]).sum())
        loss_avg, accuracy = total_loss / n, correct / n
        history.append({"epoch": epoch, "loss": loss_avg, "train_accuracy": accuracy})
        # Checkpoint before reporting the epoch: once a line is in the log, it survives a kill.
        _save_checkpoint(checkpoint, config, epoch, model, optimiser, shuffle, history)
        runtime.log(f"epoch {epoch:>3}/{hyper.epochs}  loss {loss_avg:.4f}  train_acc {accuracy:.4f}")
    model.eval()
    return model, history


def _checkpoint_path(arch: str) -> Path | None:
    directory = runtime.checkpoint_dir()
    return directory / f"train-{arch}.pt" if directory else None


def _resume(path: Path | None, config, model, optimiser, shuffle, history) -> int:
    """Restore the state after the last finished epoch; returns that epoch, 0 when starting anew."""
    if path is None or not path.exists():
        return 0
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # a torn write from a killed attempt: start over rather than fail
        runtime.log(f"ignoring unreadable checkpoint {path}: {exc}")
        return 0
    if state.get("config") != config:
        runtime.log(f"ignoring checkpoint {path}: it was made with different settings")
        return 0
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    torch.set_rng_state(state["rng"])
    shuffle.set_state(state["shuffle_rng"])
    history.extend(state["history"])
    runtime.log(f"attempt {runtime.attempt()}: resuming after epoch {state['epoch']} from {path}")
    return int(state["epoch"])


def _save_checkpoint(path: Path | None, config, epoch: int, model, optimiser, shuffle, history) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "config": config,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "rng": torch.get_rng_state(),
        "shuffle_rng": shuffle.get_state(),
        "history": history,
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)  # a kill mid-save leaves the previous checkpoint intact
    finally:
        tmp.unlink(missing_ok=True)
