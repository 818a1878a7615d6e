"""Steps ``train-mlp`` and ``train-cnn``: ``python -m pipelines.examples.digits.train --arch mlp``.

Input ``dataset`` (from ``prepare``); output ``model``, a directory (see ``nets``).
Parameters: ``SEED`` (default 0), ``EPOCHS`` (default per architecture).

The step checkpoints every epoch into ``TRELLIS_CHECKPOINT_DIR`` and a later attempt resumes
from there (see ``training``).
"""
from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from pipelines.examples.digits import runtime

ARCHITECTURES = ("mlp", "cnn")


@dataclass(frozen=True)
class Hyper:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float


# Chosen so each model clears 0.95 test accuracy in a couple of seconds on one core.
DEFAULT_HYPER = {
    "mlp": Hyper(epochs=30, batch_size=64, lr=1e-3, weight_decay=1e-4),
    "cnn": Hyper(epochs=20, batch_size=64, lr=2e-3, weight_decay=1e-4),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.examples.digits.train")
    parser.add_argument("--arch", required=True, choices=ARCHITECTURES)
    arch = parser.parse_args().arch

    dataset = runtime.input_path("dataset")
    out = runtime.output_path("model")
    seed = runtime.param_int("seed", 0)
    default = DEFAULT_HYPER[arch]
    hyper = replace(default, epochs=runtime.param_int("epochs", default.epochs, minimum=1))
    threads = runtime.cpus()

    # Imported only now: a wiring mistake above fails at once, not after torch's import.
    from pipelines.examples.digits import nets, training

    nets.configure(seed=seed, threads=threads)
    x, y = nets.load_split(dataset, "train")
    config = {"arch": arch, "seed": seed, **asdict(hyper), "data_sha256": _fingerprint(x, y)}
    runtime.log(f"training {arch} on {len(x)} examples: {_describe(config)}, threads={threads}")

    started = time.monotonic()
    model, history = training.fit(arch, hyper, x, y, seed=seed, config=config)
    parameters = nets.parameter_count(model)
    runtime.log(f"trained {arch} in {time.monotonic() - started:.1f}s, {parameters} parameters")

    with runtime.replacing(out) as tmp:
        nets.save(model, tmp, meta={**config, "parameters": parameters, "history": history})
    runtime.log(f"wrote model to {out}")


def _fingerprint(*tensors) -> str:
    """Of the training arrays, not the file: the archive's bytes carry a timestamp."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def _describe(config: dict[str, Any]) -> str:
    keys = ("seed", "epochs", "batch_size", "lr", "weight_decay")
    return ", ".join(f"{k}={config[k]}" for k in keys)


if __name__ == "__main__":
    runtime.run(main)
