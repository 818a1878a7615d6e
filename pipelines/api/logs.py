"""Reading a step's log in chunks, by byte offset, while it may still be growing; and finding
where the log of any attempt of a step is kept."""
from __future__ import annotations

import codecs
import os

from django.http import Http404

from .. import states
from ..models import StepRun, StepRunEvent


def attempt_log(step_run: StepRun, attempt: int | None) -> tuple[str, bool]:
    """(where the log of ``attempt`` is kept, whether that attempt has ended) for a step run.

    The latest attempt's log is the step run's own ``log_path`` (empty until it is admitted).
    An older attempt's is the one its admission event recorded (the newest, if it was admitted
    again after a preemption); every attempt before the latest has ended. An attempt the step
    has not had is a 404 that says which attempts it has.
    """
    latest = step_run.attempt
    if attempt is None or attempt == latest:
        return step_run.log_path, step_run.status in states.STEP_FINAL
    if not 1 <= attempt < latest:
        had = "only attempt 1" if latest == 1 else f"attempts 1 to {latest}"
        raise Http404(f"step {step_run.step_name!r} has no attempt {attempt}: it has had {had}")
    path = (StepRunEvent.objects.filter(step_run=step_run, attempt=attempt).exclude(log_path="")
            .order_by("-seq").values_list("log_path", flat=True).first())
    return path or _sibling(step_run, attempt), True


def _sibling(step_run: StepRun, attempt: int) -> str:
    """For events recorded before admissions kept log paths: both executors keep an attempt's log
    as ``<dir>/<step>.<attempt>.log``, so the latest attempt's path names the others'."""
    latest = f"{step_run.step_name}.{step_run.attempt}.log"
    if os.path.basename(step_run.log_path) != latest:
        return ""
    return os.path.join(os.path.dirname(step_run.log_path), f"{step_run.step_name}.{attempt}.log")


def read_chunk(path: str, *, offset: int, limit: int, is_final: bool) -> dict:
    """Up to ``limit`` bytes of the log at ``path`` from byte ``offset``, decoded as UTF-8.

    Offsets count bytes. A character cut by the chunk's end is left for the next call (its
    bytes are not counted in ``next_offset``) unless the log has ended there; bytes that are not
    UTF-8 become U+FFFD. An offset past the end reads nothing from the end. A log not written
    yet reads as empty. ``is_complete``: the step is final and this chunk reaches the end.
    """
    start, data, size = _read(path, offset, limit)
    end = start + len(data)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=is_final and end >= size)
    held = len(decoder.getstate()[0])  # the start of a character the next chunk completes
    if held and held == len(data):  # not one whole character fits in ``limit``: do not stall
        text, held = decoder.decode(b"", final=True), 0
    next_offset = end - held
    return {"text": text, "offset": start, "next_offset": next_offset,
            "is_complete": is_final and next_offset >= size}


def _read(path: str, offset: int, limit: int) -> tuple[int, bytes, int]:
    """(where reading started, the bytes read, the file's size); nothing for a missing file."""
    if not path:
        return 0, b"", 0
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = min(offset, size)
            f.seek(start)
            return start, f.read(limit), size
    except FileNotFoundError:
        return 0, b"", 0
