"""The two model architectures, defined once: training builds them, evaluation rebuilds them.

A model artifact is a directory: ``state_dict.pt`` (torch ``state_dict``, loadable with
``weights_only=True``) and ``model.json`` (architecture, hyperparameters, training history).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ARCHITECTURES = ("mlp", "cnn")
STATE_FILE = "state_dict.pt"
META_FILE = "model.json"
FORMAT = 1


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, 1, 8, 8)))


def build(arch: str) -> nn.Module:
    if arch == "mlp":
        return MLP()
    if arch == "cnn":
        return CNN()
    raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")


def configure(*, seed: int, threads: int) -> None:
    """Same seed and thread count, same weights: seed torch and forbid nondeterministic kernels."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def load_split(dataset: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(dataset) as data:
        return torch.from_numpy(data[f"x_{split}"]), torch.from_numpy(data[f"y_{split}"])


def save(model: nn.Module, path: Path, *, meta: dict[str, Any]) -> None:
    """Write a model artifact into the (new) directory ``path``."""
    path.mkdir()
    torch.save(model.state_dict(), path / STATE_FILE)
    (path / META_FILE).write_text(json.dumps({"format": FORMAT, **meta}, indent=2, sort_keys=True) + "\n")


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads((path / META_FILE).read_text())


def load(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a training step saved at ``path``, in eval mode."""
    meta = read_meta(path)
    model = build(meta["arch"])
    model.load_state_dict(torch.load(path / STATE_FILE, weights_only=True))
    model.eval()
    return model, meta


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
