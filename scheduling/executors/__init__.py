"""The one executor chooser: settings decide, once per process."""
from __future__ import annotations

from functools import lru_cache

from .base import Executor, ExecutorEvent, JobSpec

__all__ = ["Executor", "ExecutorEvent", "JobSpec", "get_executor"]


@lru_cache(maxsize=1)
def get_executor() -> Executor:
    from django.conf import settings

    if settings.TRELLIS_EXECUTOR == "local":
        from .local import LocalExecutor

        return LocalExecutor(
            state_dir=settings.TRELLIS_LOCAL_STATE_DIR,
            runs_dir=settings.TRELLIS_RUNS_DIR,
            cpu=settings.TRELLIS_LOCAL_CPUS,
            memory_mb=settings.TRELLIS_LOCAL_MEMORY_MB,
            gpu=settings.TRELLIS_LOCAL_GPUS,
            grace_s=settings.TRELLIS_CANCEL_GRACE_S,
            project_dir=settings.BASE_DIR,
        )
    if settings.TRELLIS_EXECUTOR == "kubernetes":
        from .kubernetes import KubernetesConfig, KubernetesExecutor, build_api_client

        api_client = build_api_client(
            host=settings.TRELLIS_K8S_API_HOST,
            kubeconfig=settings.TRELLIS_K8S_KUBECONFIG,
            context=settings.TRELLIS_K8S_CONTEXT,
            is_in_cluster=settings.TRELLIS_K8S_IN_CLUSTER,
            verify_ssl=settings.TRELLIS_K8S_VERIFY_SSL,
        )
        config = KubernetesConfig(
            namespace_pattern=settings.TRELLIS_K8S_NAMESPACE,
            instance=settings.TRELLIS_K8S_INSTANCE,
            gpu_class_label=settings.TRELLIS_K8S_GPU_CLASS_LABEL,
            gpu_tolerations=tuple(settings.TRELLIS_K8S_GPU_TOLERATIONS),
            runs_mount=settings.TRELLIS_K8S_RUNS_MOUNT,
            storage_class=settings.TRELLIS_K8S_STORAGE_CLASS,
            volume_size=settings.TRELLIS_K8S_VOLUME_SIZE,
            service_account=settings.TRELLIS_K8S_SERVICE_ACCOUNT,
            image_pull_secrets=tuple(settings.TRELLIS_K8S_IMAGE_PULL_SECRETS),
            ttl_after_finished_s=settings.TRELLIS_K8S_TTL_AFTER_FINISHED_S,
            pending_timeout_s=settings.TRELLIS_K8S_PENDING_TIMEOUT_S,
            volume_retention_s=settings.TRELLIS_K8S_VOLUME_RETENTION_S,
            init_image=settings.TRELLIS_K8S_INIT_IMAGE,
        )
        return KubernetesExecutor(api_client=api_client, config=config,
                                  watch_timeout_s=settings.TRELLIS_K8S_WATCH_TIMEOUT_S,
                                  log_dir=settings.TRELLIS_RUNS_DIR)
    raise ValueError(f"unknown TRELLIS_EXECUTOR {settings.TRELLIS_EXECUTOR!r}; expected 'local' or 'kubernetes'")
