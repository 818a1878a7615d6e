"""Reading a small JSON artifact of a run (a step's ``metrics``, say) for the run page.

The path is built from the run's working area, never taken from the request: ``<workdir>/
artifacts/<step>/<output>``, and it must still lie inside ``<workdir>/artifacts`` once symlinks
are resolved (a step cannot point the server at a file elsewhere).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_BYTES = 1024 * 1024


class NotReadable(Exception):
    """No such artifact, or not one this endpoint serves (too large, not JSON, outside the run)."""


def read_json(workdir: str, step: str, output: str, *, max_bytes: int = MAX_BYTES) -> Any:
    """The parsed JSON content of the artifact ``output`` of ``step``; NotReadable otherwise."""
    if not workdir:
        raise NotReadable("the run has no working area")
    root = (Path(workdir) / "artifacts").resolve()
    try:
        path = (root / step / output).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise NotReadable(f"no artifact {step}.{output}") from None
    if not path.is_relative_to(root) or not path.is_file():
        raise NotReadable(f"{step}.{output} is not a file of this run")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotReadable(f"{step}.{output} is larger than {max_bytes} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError):
        raise NotReadable(f"{step}.{output} is not JSON") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python writes them, JSON has no such thing
