"""The trace simulator's speed: jobs replayed per second on the shared Philly sample, isolated
per team (Helios) and on one shared 2,816-GPU cluster with borrowing, under each policy. Target:
over 20,000 jobs/s. Also prints the simulator's table for the trace."""
from __future__ import annotations

import statistics
from pathlib import Path

from scheduling.core.policies import POLICIES
from scheduling.core.simulator import Options, load_teams, load_trace, simulate, table

TARGET = 20_000
REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    for d in (REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if d.exists():
            return d
    raise SystemExit("no shared data directory (../shared/data or /work/shared/data)")


def main() -> None:
    d = data_dir()
    jobs = load_trace(d / "philly_sample_2017-12-01.csv")
    teams = load_teams(d / "philly_vc_config.csv")
    setups = {
        "isolated": Options(quotas=teams, is_isolated=True),
        "shared+borrow": Options(gpus=2816, quotas=teams, is_borrowing=True),
    }
    rows, speeds = [], []
    for label, options in setups.items():
        for policy in POLICIES:
            runs = [simulate(jobs, Options(**{**options.__dict__, "policy": policy})) for _ in range(5)]
            best = max(runs, key=lambda r: r.summary["jobs_per_s"])
            best.policy = f"{policy} {label}"
            rows.append(best)
            speeds.append(statistics.median(r.summary["jobs_per_s"] for r in runs))
    print(f"{len(jobs)} jobs, {d}")
    print(table(rows, label_width=28))
    slowest = min(speeds)
    print(f"\nslowest policy (median of 5): {slowest:,.0f} jobs/s; target {TARGET:,} ({slowest / TARGET:.2f}x target)")
