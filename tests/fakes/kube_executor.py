"""A KubernetesExecutor wired to a FakeCluster, for tests."""
from __future__ import annotations

from scheduling.executors.kubernetes import KubernetesConfig, KubernetesExecutor

from .kube import FakeCluster


def executor_for(cluster: FakeCluster, **config) -> KubernetesExecutor:
    watch_timeout_s = config.pop("watch_timeout_s", 30)
    log_dir = config.pop("log_dir", None)
    executor = KubernetesExecutor(api_client=cluster.api_client(), config=KubernetesConfig(**config),
                                  watch_timeout_s=watch_timeout_s, backoff_max_s=0.2, log_dir=log_dir)
    cluster.when_closing(executor.close)  # its node watch stops with the cluster
    return executor
