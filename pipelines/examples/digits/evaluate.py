"""Steps ``evaluate-mlp`` and ``evaluate-cnn``: score a trained model on the held-out test split.

Inputs ``model`` (a ``train`` step's directory) and ``dataset`` (from ``prepare``). Output
``metrics``, JSON::

    {"arch": "cnn", "accuracy": 0.98, "loss": 0.06, "n_test": 450,
     "per_class_accuracy": {"0": 1.0, ...}, "confusion": [[...], ...]}

``confusion[true][predicted]`` counts test examples. The architecture comes from the model's
own metadata, so one module serves both steps.
"""
from __future__ import annotations

from pipelines.examples.digits import runtime


def main() -> None:
    model_dir = runtime.input_path("model")
    dataset = runtime.input_path("dataset")
    out = runtime.output_path("metrics")

    # Imported only now: a wiring mistake above fails at once, not after torch's import.
    import torch
    import torch.nn.functional as F

    from pipelines.examples.digits import nets

    if not (model_dir / nets.META_FILE).is_file():
        raise runtime.StepError(f"input 'model' is not a model directory (no {nets.META_FILE}): {model_dir}")
    nets.configure(seed=0, threads=runtime.cpus())
    model, meta = nets.load(model_dir)
    x, y = nets.load_split(dataset, "test")

    with torch.no_grad():
        logits = model(x)
    loss = float(F.cross_entropy(logits, y))
    predicted = logits.argmax(1)
    classes = int(logits.shape[1])
    confusion = torch.zeros(classes, classes, dtype=torch.int64)
    confusion.index_put_((y, predicted), torch.ones_like(y), accumulate=True)
    per_class = {
        str(c): round(float(confusion[c, c]) / max(1, int(confusion[c].sum())), 6) for c in range(classes)
    }
    metrics = {
        "arch": meta["arch"],
        "accuracy": round(float((predicted == y).float().mean()), 6),
        "loss": round(loss, 6),
        "n_test": len(y),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
    }

    arch, accuracy = meta["arch"], metrics["accuracy"]
    runtime.log(f"{arch}: test accuracy {accuracy:.4f}, loss {loss:.4f} on {len(y)} examples")
    runtime.log("per class: " + "  ".join(f"{c}:{a:.3f}" for c, a in per_class.items()))
    runtime.write_json(out, metrics)
    runtime.log(f"wrote metrics to {out}")


if __name__ == "__main__":
    runtime.run(main)
