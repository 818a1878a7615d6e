"""The pure scheduling core: plain data in, decisions out. No Django, no clock, no cluster."""
from .admission import admit
from .types import Capacity, Decision, Request, Running, Snapshot, TeamQuota, Waiting

__all__ = ["admit", "Capacity", "Decision", "Request", "Running", "Snapshot", "TeamQuota", "Waiting"]
