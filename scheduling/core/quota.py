"""The one fit check: does a request fit in what is left of a limit?"""
from __future__ import annotations

from .types import Request

RESOURCES = (("cpu", "cpu"), ("memory_mb", "memory MB"), ("gpu", "gpu"))


def _fmt(value: float) -> str:
    return f"{value:g}"


def shortfall(request: Request, used: Request, limit: Request, *, who: str) -> str | None:
    """None if ``request`` fits beside ``used`` within ``limit``, else a readable reason.

    >>> shortfall(Request(1, 0, 1), Request(0, 0, 8), Request(64, 10**6, 8), who="team vision")
    'team vision: gpu 8 of 8 in use, asks 1'
    """
    for attr, label in RESOURCES:
        asked, busy, cap = getattr(request, attr), getattr(used, attr), getattr(limit, attr)
        if asked > 0 and busy + asked > cap + 1e-9:
            return f"{who}: {label} {_fmt(busy)} of {_fmt(cap)} in use, asks {_fmt(asked)}"
    return None


def exceeds(request: Request, limit: Request, *, what: str) -> str | None:
    """None if ``request`` could ever fit in ``limit``, else which limit it exceeds."""
    for attr, label in RESOURCES:
        asked, cap = getattr(request, attr), getattr(limit, attr)
        if asked > cap + 1e-9:
            return f"asks for {_fmt(asked)} {label} but {what} has {_fmt(cap)}"
    return None
