"""Where a watch is: both streams' resourceVersions, as text (``jobs=<rv>,pods=<rv>``)."""
from __future__ import annotations

from ..base import ExecutorEvent


def parse_position(since: str | None) -> dict[str, str | None]:
    """``jobs=<rv>,pods=<rv>`` -> {"jobs": rv, "pods": rv}; missing parts mean "list first"."""
    position: dict[str, str | None] = {"jobs": None, "pods": None}
    for part in filter(None, (since or "").split(",")):
        key, _, rv = part.partition("=")
        if key in position and rv:
            position[key] = rv
    return position


def at_position(event: ExecutorEvent, position: dict[str, str | None]) -> ExecutorEvent:
    text = ",".join(f"{k}={v}" for k, v in position.items() if v)
    return ExecutorEvent(event.handle, event.kind, text, exit_code=event.exit_code, reason=event.reason,
                         node=event.node, extra=event.extra)


def rv_number(text: str | None) -> int:
    """resourceVersions are opaque strings; etcd's are increasing integers, which the hold in
    ``Tracker.on_job`` relies on. Anything else compares as "unknown" (-1: never waited for)."""
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1
