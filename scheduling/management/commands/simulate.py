"""python manage.py simulate: replay a workload trace through the scheduling core, no database.

    python manage.py simulate --trace ../shared/data/philly_sample_2017-12-01.csv --policy sjf --gpus 64
    python manage.py simulate --trace T --teams ../shared/data/philly_vc_config.csv --borrowing --compare
    python manage.py simulate --trace T --teams VC --isolated --policies fifo,sjf,srtf     # Helios (SC'21)
    python manage.py simulate --trace T --nodes 8 --gpus-per-node 8 --placement pack --backfill reserve --compare

The trace is a CSV with columns submit_time_s, duration_s, num_gpus and team (or user); job_id
is optional. The team quotas file is a CSV with a column team and either gpus, or nodes (times
its gpus_per_node column, else --gpus-per-node). Every check of the command line happens before
anything is replayed, and each refusal says what to change.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from scheduling.core import simulator
from scheduling.core.policies import POLICIES


class Command(BaseCommand):
    requires_system_checks = []  # no database, no URLs: the replay is pure
    help = ("Replay a trace (submit_time_s, duration_s, num_gpus, team) through the scheduling core with a "
            "simulated clock; print mean and p95 completion time and queueing delay, GPU utilisation and "
            "Jain's index per policy.")

    def add_arguments(self, parser):
        parser.add_argument("--trace", required=True, help="trace CSV: submit_time_s, duration_s, num_gpus, team")
        parser.add_argument("--policy", default="fifo", choices=list(POLICIES), help="the policy to replay (default fifo)")
        parser.add_argument("--gpus", type=int, default=None,
                            help="GPUs of the shared cluster (default: the sum of the team quotas)")
        parser.add_argument("--nodes", type=int, default=None,
                            help="nodes of the shared cluster, instead of --gpus (GPUs: nodes x GPUs per node)")
        parser.add_argument("--gpus-per-node", "--nodes-gpus", type=int, default=8, dest="gpus_per_node",
                            help="GPUs per node (default 8)")
        parser.add_argument("--teams", help="team quotas CSV: team and gpus (or nodes [x gpus_per_node])")
        parser.add_argument("--borrowing", action="store_true",
                            help="with --teams: the teams form one cohort and borrow each other's unused GPUs")
        parser.add_argument("--isolated", action="store_true",
                            help="with --teams: one cluster per team, sized by its quota (the Helios setup)")
        parser.add_argument("--placement", choices=["whole_nodes", "pack"], default="whole_nodes",
                            help="whole_nodes (default): a job on the fullest node that fits, multi-node jobs on "
                                 "whole free nodes; pack: a job's GPUs may spread over nodes")
        parser.add_argument("--strict", action="store_true",
                            help="strict head-of-line: nothing passes the first job that does not fit")
        parser.add_argument("--backfill", choices=["skip", "reserve"], default=None,
                            help="instead of each policy's own rule: skip (any job that fits passes one that does not) "
                                 "or reserve (EASY: only if it does not delay the first blocked job)")
        parser.add_argument("--compare", action="store_true", help="run every policy on the same trace, and chart it")
        parser.add_argument("--policies", help="compare these policies only, comma separated (implies --compare)")
        parser.add_argument("--chart", help="the PNG to write (with --compare, default: <trace name>.compare.png here)")

    def handle(self, *args, trace, policy, gpus, nodes, gpus_per_node, teams, borrowing, isolated, placement, strict,
               backfill, compare, policies, chart, **_):
        check_shape(gpus=gpus, nodes=nodes, gpus_per_node=gpus_per_node, teams=teams, borrowing=borrowing,
                    isolated=isolated, strict=strict, backfill=backfill)
        jobs = read_trace(trace)
        quotas = read_team_quotas(teams, gpus_per_node=gpus_per_node) if teams else None
        if nodes is not None:
            gpus = nodes * gpus_per_node
        if gpus is None:
            gpus = sum(quotas.values()) if quotas else 0
        if gpus <= 0 and not isolated:
            raise CommandError("say how many GPUs the cluster has (--gpus or --nodes), or give --teams")
        names = [policy]
        if compare or policies:
            names = policy_names(policies)
            chart = chart or f"{Path(trace).stem}.compare.png"
        if chart:
            check_writable(chart)
        options = simulator.Options(policy=policy, gpus=gpus, gpus_per_node=gpus_per_node, quotas=quotas,
                                    is_borrowing=borrowing, placement=placement, is_strict=strict, is_isolated=isolated,
                                    head_of_line=backfill or "")
        results = [simulator.simulate(jobs, simulator.Options(**{**options.__dict__, "policy": name})) for name in names]
        setup = describe(gpus=gpus, gpus_per_node=gpus_per_node, placement=placement, borrowing=borrowing,
                         isolated=isolated, strict=strict, backfill=backfill, teams=teams)
        self.stdout.write(f"{len(jobs)} jobs from {trace}; {setup}")
        if not isolated and gpus % gpus_per_node:
            self.stdout.write(f"note: {gpus} GPUs are not whole {gpus_per_node}-GPU nodes; "
                              f"the last node has {gpus % gpus_per_node}")
        self.stdout.write(simulator.table(results))
        for line in unscheduled_lines(results[0], quotas=quotas, teams_file=teams):
            self.stdout.write(line)
        if chart:
            write_chart(results, chart, title=setup)
            self.stdout.write(f"chart: {chart}")


def check_shape(*, gpus, nodes, gpus_per_node, teams, borrowing, isolated, strict, backfill) -> None:
    """Options that contradict each other or make no cluster, refused before anything is read."""
    if gpus_per_node <= 0:
        raise CommandError("--gpus-per-node must be at least 1")
    if gpus is not None and gpus <= 0:
        raise CommandError("--gpus must be at least 1")
    if nodes is not None and nodes <= 0:
        raise CommandError("--nodes must be at least 1")
    if nodes is not None and gpus is not None and gpus != nodes * gpus_per_node:
        raise CommandError(f"--nodes {nodes} x --gpus-per-node {gpus_per_node} is not --gpus {gpus}: give one of them")
    if (isolated or borrowing) and not teams:
        raise CommandError(f"--{'isolated' if isolated else 'borrowing'} needs --teams: the team quotas")
    if isolated and borrowing:
        raise CommandError("--isolated gives each team a cluster of its own: there is nobody to borrow from")
    if isolated and (gpus is not None or nodes is not None):
        raise CommandError("--isolated sizes each team's cluster by its quota in --teams: leave out --gpus and --nodes")
    if strict and backfill:
        raise CommandError("--strict and --backfill are two answers to one question: give one")


def read_trace(path: str) -> list[simulator.Job]:
    if not Path(path).is_file():
        raise CommandError(f"no trace at {path}")
    try:
        jobs = simulator.load_trace(path)
    except (KeyError, ValueError, TypeError) as e:
        raise CommandError(f"{path} is not a trace: it needs columns submit_time_s, duration_s, num_gpus and "
                           f"team (or user), with numbers where numbers go ({e})") from e
    if not jobs:
        raise CommandError(f"{path} has no jobs")
    for job in jobs:
        if not (math.isfinite(job.submit_s) and job.submit_s >= 0):
            raise CommandError(f"{path}: job {job.job_id} has submit_time_s {job.submit_s:g}; it must be 0 or more")
        if not (math.isfinite(job.duration_s) and job.duration_s >= 0):
            raise CommandError(f"{path}: job {job.job_id} has duration_s {job.duration_s:g}; it must be 0 or more")
        if job.gpus < 0:
            raise CommandError(f"{path}: job {job.job_id} asks for {job.gpus} GPUs; it must be 0 or more")
    return jobs


def read_team_quotas(path: str, *, gpus_per_node: int) -> dict[str, int]:
    """Team -> nominal GPUs: its ``gpus``, else its ``nodes`` times its ``gpus_per_node`` (else
    ``gpus_per_node``). Every team once, whole numbers, none negative."""
    if not Path(path).is_file():
        raise CommandError(f"no team quotas at {path}")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise CommandError(f"{path} is not a team quota file: {e}") from e
    if not rows or "team" not in rows[0] or not ({"gpus", "nodes"} & set(rows[0])):
        raise CommandError(f"{path} is not a team quota file: it needs a column team and a column gpus (or nodes)")
    quotas: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        team = (row.get("team") or "").strip()
        if not team:
            raise CommandError(f"{path}, line {line}: no team named")
        if team in quotas:
            raise CommandError(f"{path}, line {line}: team {team} is listed twice")
        quotas[team] = _team_gpus(path, line, team, row, gpus_per_node)
    return quotas


def _team_gpus(path: str, line: int, team: str, row: dict, gpus_per_node: int) -> int:
    def whole(column: str, default: int | None = None) -> int:
        text = (row.get(column) or "").strip()
        if not text and default is not None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise CommandError(f"{path}, line {line}: team {team} has {column} {text!r}; "
                               f"it must be a whole number") from None
        if value < 0:
            raise CommandError(f"{path}, line {line}: team {team} has {column} {value}; it must be 0 or more")
        return value

    if (row.get("gpus") or "").strip():
        return whole("gpus")
    return whole("nodes") * whole("gpus_per_node", gpus_per_node)


def policy_names(policies: str | None) -> list[str]:
    if not policies:
        return list(POLICIES)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown or not names:
        raise CommandError(f"unknown policies {', '.join(unknown) or '(none given)'}; known: {', '.join(POLICIES)}")
    return list(dict.fromkeys(names))


def check_writable(chart: str) -> None:
    folder = Path(chart).resolve().parent
    if not folder.is_dir():
        raise CommandError(f"cannot write the chart {chart}: there is no folder {folder}")


def describe(*, gpus, gpus_per_node, placement, borrowing, isolated, strict, backfill, teams) -> str:
    where = "isolated clusters per team" if isolated else f"{gpus} GPUs shared"
    quotas = (f", quotas from {Path(teams).name}" + (" with borrowing" if borrowing else "")) if teams else ""
    return (f"{where}, {gpus_per_node}-GPU nodes, {placement}" + (", strict head of line" if strict else "")
            + (f", backfill {backfill}" if backfill else "") + (quotas if not isolated else ""))


def unscheduled_lines(result: simulator.Result, *, quotas: dict[str, int] | None, teams_file: str | None) -> list[str]:
    """The jobs that never ran, by team, with why (a team missing from the quota file says so)."""
    by_team: dict[str, list[simulator.Outcome]] = {}
    for o in result.outcomes:
        if o.finished_s is None:
            by_team.setdefault(o.job.team, []).append(o)
    lines = []
    for team, outcomes in sorted(by_team.items()):
        if quotas is not None and team not in quotas:
            why = f"team {team} has no quota in {Path(teams_file).name}"
        else:
            why = outcomes[0].reason or "never admitted"
        lines.append(f"unscheduled: {len(outcomes)} job{'s' if len(outcomes) != 1 else ''} of team {team} ({why})")
    return lines


def write_chart(results, path: str, *, title: str) -> None:
    """Bars per policy: mean and p95 completion time and queueing delay, utilisation, Jain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.policy for r in results]
    panels = [("mean_jct_s", "mean JCT (s)"), ("p95_jct_s", "p95 JCT (s)"), ("mean_queue_s", "mean wait (s)"),
              ("p95_queue_s", "p95 wait (s)"), ("gpu_utilisation", "GPU utilisation"), ("jain", "Jain's index")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, label) in zip(axes.flat, panels):
        ax.bar(names, [r.summary[key] for r in results], color="#4c72b0")
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=35, labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise CommandError(f"cannot write the chart {path}: {e}") from e
    finally:
        plt.close(fig)
