"""python manage.py simulate: replay a workload trace through the scheduling core, no database.

    python manage.py simulate --trace ../shared/data/philly_sample_2017-12-01.csv --policy sjf \\
        --gpus 2816 --teams ../shared/data/philly_vc_config.csv --borrowing
    python manage.py simulate --trace T --teams VC --isolated --compare --chart out.png
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
        parser.add_argument("--nodes-gpus", type=int, default=8, dest="gpus_per_node", help="GPUs per node")
        parser.add_argument("--teams", help="CSV of team,gpus: nominal GPU quotas")
        parser.add_argument("--borrowing", action="store_true", help="teams form one cohort and borrow unused quota")
        parser.add_argument("--isolated", action="store_true", help="one cluster per team, sized by its quota (Helios)")
        parser.add_argument("--placement", choices=["whole_nodes", "pack"], default="whole_nodes")
        parser.add_argument("--strict", action="store_true", help="strict head-of-line blocking instead of backfill")
        parser.add_argument("--compare", action="store_true", help="run every policy on the same trace")
        parser.add_argument("--chart", help="PNG to write beside the table (with --compare)")

    def handle(self, *args, trace, policy, gpus, gpus_per_node, teams, borrowing, isolated, placement, strict,
               compare, chart, **_):
        if not Path(trace).exists():
            raise CommandError(f"no trace at {trace}")
        jobs = simulator.load_trace(trace)
        quotas = simulator.load_teams(teams) if teams else None
        if isolated and quotas is None:
            raise CommandError("--isolated needs --teams: each team's cluster is sized by its quota")
        if gpus is None:
            gpus = sum(quotas.values()) if quotas else 0
        if gpus <= 0 and not isolated:
            raise CommandError("say how many GPUs the cluster has (--gpus), or give --teams")
        options = simulator.Options(policy=policy, gpus=gpus, gpus_per_node=gpus_per_node, quotas=quotas,
                                    is_borrowing=borrowing, placement=placement, is_strict=strict, is_isolated=isolated)
        names = sorted(POLICIES, key=list(POLICIES).index) if compare else [policy]
        results = []
        for name in names:
            result = simulator.simulate(jobs, simulator.Options(**{**options.__dict__, "policy": name}))
            results.append(result)
        setup = ("isolated clusters per team" if isolated else f"{gpus} GPUs shared") + \
                f", {gpus_per_node}-GPU nodes, {placement}" + (", borrowing" if borrowing else "") + \
                (", strict head of line" if strict else "")
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
