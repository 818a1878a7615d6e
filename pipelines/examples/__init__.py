"""Built-in example pipelines, as spec dicts ready for ``pipelines.spec.spec_from_dict``.

Standard library only: listing the examples must not import torch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent

# name -> the file holding its spec: {"description": "...", "steps": [...]}
EXAMPLES: dict[str, Path] = {
    "digits": _HERE / "digits" / "pipeline.json",
}


def load_example(name: str) -> dict[str, Any]:
    """The spec dict of built-in example ``name``; a fresh copy each call, safe to modify."""
    try:
        path = EXAMPLES[name]
    except KeyError:
        raise KeyError(f"no example pipeline {name!r}; known: {', '.join(sorted(EXAMPLES))}") from None
    return json.loads(path.read_text())
