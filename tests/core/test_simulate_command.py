"""python manage.py simulate, run as an admin runs it (a subprocess: this module imports no Django)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRACE = "job_id,submit_time_s,duration_s,num_gpus,team\n" + "".join(
    f"j{i},{i * 10},{600 if i % 2 else 60},{8 if i % 3 == 0 else 2},{'a' if i % 2 else 'b'}\n" for i in range(12))


def simulate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "trace.csv").write_text(TRACE)
    (tmp_path / "teams.csv").write_text("team,gpus\na,8\nb,8\n")
    return subprocess.run([sys.executable, str(REPO / "manage.py"), "simulate", "--trace", "trace.csv", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("policy"))
    return {line.split()[0]: line.split()[1:] for line in lines[start + 1:] if line and not line.startswith(("unsched", "chart"))}


def test_compare_prints_a_row_per_policy_and_writes_the_chart_beside_it(tmp_path):
    done = simulate(tmp_path, "--nodes", "2", "--gpus-per-node", "8", "--compare", "--policies", "fifo,sjf,srtf")

    assert done.returncode == 0, done.stderr
    assert "16 GPUs shared, 8-GPU nodes, whole_nodes" in done.stdout
    assert list(rows(done.stdout)) == ["fifo", "sjf", "srtf"]
    assert (tmp_path / "trace.compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_isolated_clusters_per_team_replay_the_helios_setup(tmp_path):
    done = simulate(tmp_path, "--teams", "teams.csv", "--isolated", "--policy", "sjf")

    assert done.returncode == 0, done.stderr
    assert "isolated clusters per team" in done.stdout and list(rows(done.stdout)) == ["sjf"]


def test_strict_head_of_line_and_backfill_are_options(tmp_path):
    strict = simulate(tmp_path, "--gpus", "8", "--strict")
    easy = simulate(tmp_path, "--gpus", "8", "--backfill", "reserve", "--placement", "pack")

    assert strict.returncode == 0 and "strict head of line" in strict.stdout
    assert easy.returncode == 0 and "pack, backfill reserve" in easy.stdout


def test_a_file_that_is_not_a_trace_is_refused_with_a_reason(tmp_path):
    (tmp_path / "other.csv").write_text("team,gpus\na,8\n")

    done = simulate(tmp_path, "--gpus", "8")
    bad = subprocess.run([sys.executable, str(REPO / "manage.py"), "simulate", "--trace", "other.csv", "--gpus", "8"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0
    assert bad.returncode != 0 and "is not a trace: it needs columns submit_time_s" in bad.stderr
    assert "Traceback" not in bad.stderr
