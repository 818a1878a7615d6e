"""python manage.py simulate: replay a workload trace through the scheduling core, no database.

    python manage.py simulate --trace ../shared/data/philly_sample_2017-12-01.csv --policy sjf \\
        --gpus 2816 --teams ../shared/data/philly_vc_config.csv --borrowing
    python manage.py simulate --trace T --teams VC --isolated --compare --chart out.png
    python manage.py simulate --trace T --nodes 8 --gpus-per-node 8 --placement pack --backfill reserve --compare
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from scheduling.core import simulator
from scheduling.core.policies import POLICIES


class Command(BaseCommand):
    help = "Replay a trace (submit_time_s, duration_s, num_gpus, team) through admit() with a simulated clock."

    def add_arguments(self, parser):
        parser.add_argument("--trace", required=True, help="trace CSV")
        parser.add_argument("--policy", default="fifo", choices=sorted(POLICIES))
        parser.add_argument("--gpus", type=int, default=None, help="GPUs in the shared cluster (default: the teams' total)")
        parser.add_argument("--nodes", type=int, default=None, help="nodes in the shared cluster (GPUs: nodes x GPUs per node)")
        parser.add_argument("--gpus-per-node", "--nodes-gpus", type=int, default=8, dest="gpus_per_node", help="GPUs per node")
        parser.add_argument("--teams", help="CSV of team,gpus: nominal GPU quotas")
        parser.add_argument("--borrowing", action="store_true", help="teams form one cohort and borrow unused quota")
        parser.add_argument("--isolated", action="store_true", help="one cluster per team, sized by its quota (Helios)")
        parser.add_argument("--placement", choices=["whole_nodes", "pack"], default="whole_nodes")
        parser.add_argument("--strict", action="store_true", help="strict head-of-line blocking instead of backfill")
        parser.add_argument("--backfill", choices=["skip", "reserve"], default=None,
                            help="instead of each policy's own rule: skip (any job that fits passes one that does not) "
                                 "or reserve (EASY: only if it does not delay the first blocked job)")
        parser.add_argument("--compare", action="store_true", help="run every policy on the same trace")
        parser.add_argument("--policies", help="with --compare: these policies only, comma separated (e.g. fifo,sjf,srtf)")
        parser.add_argument("--chart", help="with --compare: the PNG to write (default: <trace name>.compare.png here)")

    def handle(self, *args, trace, policy, gpus, nodes, gpus_per_node, teams, borrowing, isolated, placement, strict,
               backfill, compare, policies, chart, **_):
        if not Path(trace).exists():
            raise CommandError(f"no trace at {trace}")
        try:
            jobs = simulator.load_trace(trace)
        except (KeyError, ValueError) as e:
            raise CommandError(f"{trace} is not a trace: it needs columns submit_time_s, duration_s, num_gpus and "
                               f"team (or user), with numbers where numbers go ({e})") from e
        if teams and not Path(teams).exists():
            raise CommandError(f"no team quotas at {teams}")
        try:
            quotas = simulator.load_teams(teams) if teams else None
        except (KeyError, ValueError) as e:
            raise CommandError(f"{teams} is not a team quota file: it needs columns team and gpus ({e})") from e
        if isolated and quotas is None:
            raise CommandError("--isolated needs --teams: each team's cluster is sized by its quota")
        if strict and backfill:
            raise CommandError("--strict and --backfill are two answers to one question: give one")
        if gpus_per_node <= 0:
            raise CommandError("--gpus-per-node must be at least 1")
        if nodes is not None:
            if gpus is not None and gpus != nodes * gpus_per_node:
                raise CommandError(f"--nodes {nodes} x --gpus-per-node {gpus_per_node} is not --gpus {gpus}")
            gpus = nodes * gpus_per_node
        if gpus is None:
            gpus = sum(quotas.values()) if quotas else 0
        if gpus <= 0 and not isolated:
            raise CommandError("say how many GPUs the cluster has (--gpus), or give --teams")
        options = simulator.Options(policy=policy, gpus=gpus, gpus_per_node=gpus_per_node, quotas=quotas,
                                    is_borrowing=borrowing, placement=placement, is_strict=strict, is_isolated=isolated,
                                    head_of_line=backfill or "")
        names = [policy]
        if compare:
            names = list(POLICIES)
            if policies:
                names = [p.strip() for p in policies.split(",") if p.strip()]
                unknown = sorted(set(names) - set(POLICIES))
                if unknown:
                    raise CommandError(f"unknown policies {', '.join(unknown)}; known: {', '.join(POLICIES)}")
            chart = chart or f"{Path(trace).stem}.compare.png"
        results = []
        for name in names:
            result = simulator.simulate(jobs, simulator.Options(**{**options.__dict__, "policy": name}))
            results.append(result)
        setup = ("isolated clusters per team" if isolated else f"{gpus} GPUs shared") + \
                f", {gpus_per_node}-GPU nodes, {placement}" + (", borrowing" if borrowing else "") + \
                (", strict head of line" if strict else "") + (f", backfill {backfill}" if backfill else "")
        self.stdout.write(f"{len(jobs)} jobs from {trace}; {setup}")
        self.stdout.write(simulator.table(results))
        for r in results[:1]:
            if r.unscheduled:
                teams_left = sorted({o.job.team for o in r.unscheduled})
                self.stdout.write(f"unscheduled: {len(r.unscheduled)} jobs of teams {', '.join(teams_left)} "
                                  f"({r.unscheduled[0].reason})")
        if compare and chart:
            write_chart(results, chart, title=setup)
            self.stdout.write(f"chart: {chart}")


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
    fig.savefig(path, dpi=110)
    plt.close(fig)
