"""How long a step run is expected to take, for shortest-job-first and backfill. Reads only.

A step's estimate is, in this order:

1. the median of the durations (start to finish) of the same pipeline step's most recent
   successful step runs (the last ``HISTORY``), in any run of that pipeline;
2. else the step's own ``estimate_s`` from the pipeline version its run was submitted with;
3. else the default for its step type (``pipelines.spec.DEFAULT_ESTIMATE_S``).

Everything is worked out in bulk, for all the step runs of a snapshot at once: one query for the
history, one for the declared estimates.
"""
from __future__ import annotations

import statistics
from typing import Iterable, Mapping, NamedTuple

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from pipelines import states
from pipelines.models import Step, StepRun
from pipelines.spec import DEFAULT_ESTIMATE_S

HISTORY = 20  # successful step runs a median is taken over


class StepKey(NamedTuple):
    """What an estimate is for: a step of a pipeline, declared in one of its versions."""

    pipeline_id: int
    version_id: int
    step_name: str
    step_type: str


def estimates(keys: Iterable[StepKey], *, history: int = HISTORY) -> dict[StepKey, float]:
    """The estimate in seconds of every key (see the module's docstring for the order)."""
    keys = set(keys)
    if not keys:
        return {}
    medians = recent_medians({(k.pipeline_id, k.step_name) for k in keys}, history=history)
    declared = declared_estimates({k.version_id for k in keys})
    out = {}
    for k in keys:
        seconds = medians.get((k.pipeline_id, k.step_name))
        if seconds is None:
            seconds = declared.get((k.version_id, k.step_name))
        if seconds is None:
            seconds = DEFAULT_ESTIMATE_S.get(k.step_type, DEFAULT_ESTIMATE_S["custom"])
        out[k] = seconds
    return out


def recent_medians(steps: set[tuple[int, str]], *, history: int = HISTORY) -> dict[tuple[int, str], float]:
    """(pipeline id, step name) -> median duration of its last ``history`` successes, for the
    steps that have any."""
    if not steps:
        return {}
    pipelines = {p for p, _ in steps}
    names = {n for _, n in steps}
    ranked = (
        StepRun.objects.filter(status=states.SUCCEEDED, run__pipeline_id__in=pipelines, step_name__in=names,
                               started_at__isnull=False, finished_at__isnull=False)
        .annotate(pipeline_id=F("run__pipeline_id"),
                  recency=Window(RowNumber(), partition_by=[F("run__pipeline_id"), F("step_name")],
                                 order_by=[F("finished_at").desc(), F("id").desc()]))
        .filter(recency__lte=history)
        .values_list("pipeline_id", "step_name", "started_at", "finished_at")
    )
    durations: dict[tuple[int, str], list[float]] = {}
    for pipeline_id, name, started_at, finished_at in ranked:
        if (pipeline_id, name) in steps:  # the filter above is a cross product of the two sets
            durations.setdefault((pipeline_id, name), []).append(max(0.0, (finished_at - started_at).total_seconds()))
    return {key: statistics.median(values) for key, values in durations.items()}


def declared_estimates(version_ids: set[int]) -> Mapping[tuple[int, str], float]:
    """(version id, step name) -> the ``estimate_s`` its spec declares, where it declares one.

    Step rows mirror the version's spec, which a run snapshots: a run's spec is its version's."""
    if not version_ids:
        return {}
    return {
        (v, name): float(seconds)
        for v, name, seconds in Step.objects.filter(version_id__in=version_ids, estimate_s__isnull=False)
        .values_list("version_id", "name", "estimate_s")
    }
