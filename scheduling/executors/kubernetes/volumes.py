"""The runs' artifact volumes: one ReadWriteMany PersistentVolumeClaim per run, created when the
run's first job is submitted (the run starting) and removed once the run has been final for
longer than the retention period."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Mapping

from kubernetes import client

from . import client as api
from .manifests import RUN, KubernetesConfig, pvc_manifest, pvc_name

log = logging.getLogger(__name__)


class RunVolumes:
    def __init__(self, core: client.CoreV1Api, config: KubernetesConfig):
        self.core = core
        self.config = config
        self._known: set[tuple[str, str]] = set()  # (namespace, claim) created or found by this process
        self._lock = threading.Lock()

    def ensure(self, *, run_id: int, team: str) -> None:
        """The run's volume exists (created now, or already: "already exists" is fine)."""
        namespace = self.config.namespace(team)
        claim = (namespace, pvc_name(run_id))
        with self._lock:
            if claim in self._known:
                return
        api.create(lambda: self.core.create_namespaced_persistent_volume_claim(
            namespace, pvc_manifest(run_id=run_id, team=team, config=self.config), _preload_content=False))
        with self._lock:
            self._known.add(claim)

    def held(self) -> dict[int, tuple[str, str]]:
        """Run id -> (namespace, claim name) of every run volume of this installation."""
        selector = self.config.selector
        if self.config.is_namespace_per_team:
            data = api.body_of(self.core.list_persistent_volume_claim_for_all_namespaces(
                label_selector=selector, _preload_content=False))
        else:
            data = api.body_of(self.core.list_namespaced_persistent_volume_claim(
                self.config.namespace_pattern, label_selector=selector, _preload_content=False))
        found = {}
        for pvc in data["items"]:
            meta = pvc["metadata"]
            run = (meta.get("labels") or {}).get(RUN, "")
            if run.isdigit() and not meta.get("deletionTimestamp"):
                found[int(run)] = (meta["namespace"], meta["name"])
        return found

    def release(self, finished_at: Mapping[int, datetime | None], *, now: datetime) -> list[int]:
        """Remove the volumes of runs final for longer than the retention period.

        ``finished_at``: for each run that is final, when it finished (None: long ago, e.g. the
        run was deleted). A volume whose run is not in it (still going) stays. Returns the runs
        whose volume was removed.
        """
        keep_for = timedelta(seconds=self.config.volume_retention_s)
        removed = []
        for run_id, (namespace, name) in sorted(self.held().items()):
            if run_id not in finished_at:
                continue
            at = finished_at[run_id]
            if at is not None and now - at < keep_for:
                continue
            log.info("removing the volume of run %s (%s/%s): final since %s", run_id, namespace, name, at)
            api.delete(lambda: self.core.delete_namespaced_persistent_volume_claim(
                name, namespace, propagation_policy="Background", _preload_content=False))
            with self._lock:
                self._known.discard((namespace, name))
            removed.append(run_id)
        return removed
