"""The Kubernetes executor, as a package of small parts:

- ``executor.py``  KubernetesExecutor: the Executor interface, and every API call it makes
- ``client.py``    building the one API client; reading raw answers; create / delete idempotently
- ``manifests.py`` the Job and the run volume as pure functions of a JobSpec and KubernetesConfig
- ``streams.py``   list-then-watch of one kind in a thread (resume, 410 relist, backoff, dead watch)
- ``positions.py`` the watch position (``jobs=<rv>,pods=<rv>``)
- ``tracker.py``   Job and Pod states -> STARTED / EXITED / FAILED events, each once
- ``outcomes.py``  why a Job failed or a pod waits, in a person's words
- ``nodes.py``     node capacity by GPU class, kept current by a node watch
- ``volumes.py``   one ReadWriteMany volume per run, removed after the retention period
- ``logs.py``      pod logs copied into files the step log endpoint serves
"""
from .client import build_api_client
from .executor import KubernetesExecutor
from .manifests import KubernetesConfig
from .nodes import capacity_by_class, parse_quantity, schedulable_nodes

__all__ = ["KubernetesConfig", "KubernetesExecutor", "build_api_client", "capacity_by_class", "parse_quantity",
           "schedulable_nodes"]
