"""The largest node a step may ask for, as the configured function reports it.

``pipelines`` does not import ``scheduling``: the setting ``TRELLIS_NODE_LIMITS`` names the
function (a dotted path) that knows the cluster, e.g. ``scheduling.capacity.node_limits``.
Unset, sizes are not checked against any node.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from .spec import NodeLimits

log = logging.getLogger(__name__)


def node_limits() -> NodeLimits | None:
    """Call the function named by ``TRELLIS_NODE_LIMITS``; None when the setting is unset.

    A misspelt path fails loudly (ImportError). A cluster that cannot be asked right now gives
    None: validation then skips the size check, and the scheduler still refuses, with a reason,
    a step no node can hold.
    """
    path = getattr(settings, "TRELLIS_NODE_LIMITS", None)
    if not path:
        return None
    limits_of_cluster = import_string(path)
    try:
        return limits_of_cluster()
    except Exception:
        log.exception("could not read node limits from %s; step sizes go unchecked", path)
        return None
