"""The pure scheduling core: plain data in, decisions out. No Django, no clock, no cluster."""
from .admission import admit
from .policies import POLICIES, Policy
from .types import (Admission, Capacity, Decision, GpuClass, Node, Request, Running, Snapshot, TeamQuota, Usage,
                    Waiting)

__all__ = ["admit", "POLICIES", "Policy", "Admission", "Capacity", "Decision", "GpuClass", "Node", "Request",
           "Running", "Snapshot", "TeamQuota", "Usage", "Waiting"]
