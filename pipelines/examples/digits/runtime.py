"""What a step reads from its environment, and how it writes its outputs.

Every executor starts a step the same way: the working directory is the run's working area and
``TRELLIS_*`` variables name the inputs, outputs and parameters. A wiring mistake is the user's
to fix, so it ends the step with one readable line on stderr and exit code 2, not a traceback.

Standard library only: a step checks its environment before it pays for importing torch.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

EXIT_USAGE = 2


class StepError(Exception):
    """A problem with how the step was started: printed as one line, exit code 2."""


def input_path(name: str) -> Path:
    """The path of input ``name``, produced by an upstream step; it must exist."""
    var = f"TRELLIS_INPUT_{name.upper()}"
    value = os.environ.get(var, "")
    if not value:
        raise StepError(f"missing input '{name}': {var} is not set")
    path = Path(value)
    if not path.exists():
        raise StepError(f"input '{name}' does not exist: {path} (from {var})")
    return path


def output_path(name: str) -> Path:
    """Where output ``name`` must be written; its parent directory exists."""
    var = f"TRELLIS_OUTPUT_{name.upper()}"
    value = os.environ.get(var, "")
    if not value:
        raise StepError(f"missing output '{name}': {var} is not set")
    path = Path(value)
    if not path.parent.is_dir():
        raise StepError(f"output '{name}' has no parent directory: {path.parent} (from {var})")
    return path


def param_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Run parameter ``name`` as an integer, ``default`` when the run does not set it."""
    var = f"TRELLIS_PARAM_{name.upper()}"
    value = os.environ.get(var, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise StepError(f"parameter '{name}' must be an integer, got {value!r} (from {var})") from None
    if number < minimum:
        raise StepError(f"parameter '{name}' must be at least {minimum}, got {number} (from {var})")
    return number


def cpus() -> int:
    """Threads to use: the step's cpu request, rounded down, at least one."""
    value = os.environ.get("TRELLIS_CPUS", "").strip()
    try:
        return max(1, int(float(value)))
    except ValueError:
        return 1


def checkpoint_dir() -> Path | None:
    """A directory that survives between attempts of this step, if the executor gives one."""
    value = os.environ.get("TRELLIS_CHECKPOINT_DIR", "")
    return Path(value) if value else None


def attempt() -> int:
    try:
        return int(os.environ.get("TRELLIS_ATTEMPT", "1"))
    except ValueError:
        return 1


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write into, then move it into place.

    A retried attempt may find what an earlier attempt left half-written; downstream steps only
    ever see a complete file or directory.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_json(path: Path, data: Any) -> None:
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, *, name: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StepError(f"input '{name}' is not readable JSON: {path}: {exc}") from None


def log(message: str) -> None:
    print(message, flush=True)


def run(main: Callable[[], None]) -> None:
    """Run a step's ``main``; a StepError becomes one line on stderr and exit code 2.

    SIGTERM (a cancel, a timeout, a preempted pod) becomes a normal exit with code 143, so that
    ``finally`` blocks still remove half-written outputs.
    """
    # Logs are files or pipes, where Python would buffer whole blocks; users watch them live.
    sys.stdout.reconfigure(line_buffering=True)
    step = os.environ.get("TRELLIS_STEP", "step")

    def stop(signum: int, frame: object) -> None:
        print(f"{step}: stopped by {signal.Signals(signum).name}", file=sys.stderr, flush=True)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        main()
    except StepError as exc:
        print(f"{step}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USAGE)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
