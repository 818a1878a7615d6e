"""Step ``select-best``: keep the candidate with the best test accuracy.

``python -m pipelines.examples.digits.select_best mlp cnn`` reads, for each candidate ``c``,
inputs ``c_metrics`` and ``c_model``. Outputs ``model`` (a copy of the winner's model directory)
and ``metrics``, JSON, also printed as the log's last line::

    {"best": "cnn", "accuracy": {"mlp": 0.97, "cnn": 0.98}, "loss": {...},
     "best_metrics": {...the winner's evaluate metrics...}}

Ties go to the lower loss, then to the candidate named first: the choice is deterministic.
Needs no torch: it only compares numbers and copies files.
"""
from __future__ import annotations

import argparse
import json
import shutil

from pipelines.examples.digits import runtime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.examples.digits.select_best")
    parser.add_argument("candidates", nargs="+", help="names c with inputs c_metrics and c_model")
    candidates = parser.parse_args().candidates

    metrics_in = {c: runtime.input_path(f"{c}_metrics") for c in candidates}
    models_in = {c: runtime.input_path(f"{c}_model") for c in candidates}
    model_out = runtime.output_path("model")
    metrics_out = runtime.output_path("metrics")

    metrics = {c: runtime.read_json(path, name=f"{c}_metrics") for c, path in metrics_in.items()}
    for c, m in metrics.items():
        if not isinstance(m, dict) or not isinstance(m.get("accuracy"), (int, float)):
            raise runtime.StepError(f"input '{c}_metrics' has no numeric 'accuracy': {metrics_in[c]}")
        runtime.log(f"{c}: accuracy {m['accuracy']:.4f}, loss {m.get('loss', float('nan')):.4f}")

    order = {c: i for i, c in enumerate(candidates)}
    best = min(
        candidates,
        key=lambda c: (-metrics[c]["accuracy"], metrics[c].get("loss", float("inf")), order[c]),
    )
    summary = {
        "best": best,
        "accuracy": {c: metrics[c]["accuracy"] for c in candidates},
        "loss": {c: metrics[c].get("loss") for c in candidates},
        "best_metrics": metrics[best],
    }

    with runtime.replacing(model_out) as tmp:
        source = models_in[best]
        if source.is_dir():
            shutil.copytree(source, tmp)
        else:
            shutil.copyfile(source, tmp)
    runtime.write_json(metrics_out, summary)
    runtime.log(f"best: {best}; copied its model to {model_out}")
    runtime.log(json.dumps(summary, sort_keys=True))  # the whole output, on the log's last line


if __name__ == "__main__":
    runtime.run(main)
