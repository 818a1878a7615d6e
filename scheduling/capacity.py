"""What the cluster can hold, in the terms pipeline validation needs."""
from __future__ import annotations

from pipelines.spec import NodeLimits

from .executors import get_executor


def node_limits() -> NodeLimits | None:
    """The executor's largest node, or None when it does not say (sizes then go unchecked)."""
    largest = get_executor().capacity().largest_node
    if largest is None:
        return None
    return NodeLimits(cpu=largest.cpu, memory_mb=largest.memory_mb, gpu=largest.gpu)
