"""python manage.py simulate, run as an admin runs it (a subprocess: this module imports no Django)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def run_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "manage.py"), "simulate", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def shared_data() -> Path | None:
    return next((d for d in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if d.exists()), None)


def test_team_quotas_may_be_given_in_nodes_of_their_own_size(tmp_path):
    (tmp_path / "nodes.csv").write_text("team,nodes,gpus_per_node\na,1,8\nb,1,4\n")

    done = simulate(tmp_path, "--teams", "nodes.csv", "--isolated")

    assert done.returncode == 0, done.stderr
    assert "unscheduled: 2 jobs of team b (asks for 8 gpu but the largest node has 4)" in done.stdout
    assert "team a" not in done.stdout


def test_quotas_on_a_shared_cluster_with_and_without_borrowing(tmp_path):
    (tmp_path / "small.csv").write_text("team,gpus\na,8\nb,0\n")

    alone = simulate(tmp_path, "--teams", "small.csv", "--gpus", "16")
    borrowing = simulate(tmp_path, "--teams", "small.csv", "--gpus", "16", "--borrowing")

    assert alone.returncode == borrowing.returncode == 0, alone.stderr + borrowing.stderr
    assert "16 GPUs shared, 8-GPU nodes, whole_nodes, quotas from small.csv" in alone.stdout
    assert "unscheduled: 6 jobs of team b" in alone.stdout  # no quota of its own, nobody lends
    assert "quotas from small.csv with borrowing" in borrowing.stdout
    assert rows(borrowing.stdout)["fifo"][7] == "0"  # unsched: b borrowed what a left unused


def test_a_team_missing_from_the_quota_file_is_named(tmp_path):
    (tmp_path / "only_a.csv").write_text("team,gpus\na,16\n")

    done = simulate(tmp_path, "--teams", "only_a.csv")

    assert done.returncode == 0, done.stderr
    assert "unscheduled: 6 jobs of team b (team b has no quota in only_a.csv)" in done.stdout


def test_policies_alone_compare_them_and_chart_where_asked(tmp_path):
    (tmp_path / "charts").mkdir()

    done = simulate(tmp_path, "--gpus", "16", "--policies", "sjf, fifo", "--chart", "charts/mine.png")

    assert done.returncode == 0, done.stderr
    assert list(rows(done.stdout)) == ["sjf", "fifo"]
    assert "chart: charts/mine.png" in done.stdout
    assert (tmp_path / "charts" / "mine.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("files, args, message", [
    ({}, ["--trace", "nowhere.csv", "--gpus", "8"], "no trace at nowhere.csv"),
    ({"t.csv": "job_id,submit_time_s,duration_s,num_gpus,team\n"}, ["--trace", "t.csv", "--gpus", "8"],
     "t.csv has no jobs"),
    ({"t.csv": "submit_time_s,duration_s,num_gpus,team\n0,-5,1,a\n"}, ["--trace", "t.csv", "--gpus", "8"],
     "t.csv: job job-0 has duration_s -5; it must be 0 or more"),
    ({"t.csv": "submit_time_s,duration_s,num_gpus,team\n0,5,-1,a\n"}, ["--trace", "t.csv", "--gpus", "8"],
     "t.csv: job job-0 asks for -1 GPUs; it must be 0 or more"),
    ({"q.csv": "team,gpus\na,-8\n"}, ["--teams", "q.csv"], "q.csv, line 2: team a has gpus -8; it must be 0 or more"),
    ({"q.csv": "team,gpus\na,lots\n"}, ["--teams", "q.csv"], "q.csv, line 2: team a has gpus 'lots'; it must be a whole number"),
    ({"q.csv": "team,gpus\na,8\na,4\n"}, ["--teams", "q.csv"], "q.csv, line 3: team a is listed twice"),
    ({"q.csv": "name,size\na,8\n"}, ["--teams", "q.csv"], "q.csv is not a team quota file: it needs a column team"),
    ({}, ["--teams", "missing.csv"], "no team quotas at missing.csv"),
    ({}, ["--gpus", "0"], "--gpus must be at least 1"),
    ({}, ["--nodes", "2", "--gpus", "8"], "--nodes 2 x --gpus-per-node 8 is not --gpus 8"),
    ({}, ["--gpus", "8", "--borrowing"], "--borrowing needs --teams"),
    ({}, ["--teams", "teams.csv", "--isolated", "--borrowing"], "there is nobody to borrow from"),
    ({}, ["--teams", "teams.csv", "--isolated", "--gpus", "8"], "leave out --gpus and --nodes"),
    ({}, ["--gpus", "8", "--strict", "--backfill", "skip"], "--strict and --backfill are two answers"),
    ({}, ["--gpus", "8", "--policies", "fifo,lottery"], "unknown policies lottery; known: fifo, sjf"),
    ({}, ["--gpus", "8", "--compare", "--chart", "no/such/folder/c.png"], "cannot write the chart no/such/folder/c.png"),
], ids=["no trace", "empty trace", "negative duration", "negative gpus", "negative quota", "quota not a number",
        "team twice", "not a quota file", "no quota file", "no gpus", "nodes and gpus disagree",
        "borrowing without teams", "isolated and borrowing", "isolated with a size", "strict and backfill",
        "unknown policy", "chart folder missing"])
def test_a_bad_command_line_is_refused_with_what_to_change(tmp_path, files, args, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    done = simulate(tmp_path, *args) if "--trace" not in args else run_in(tmp_path, *args)

    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_the_shared_philly_sample_replays_as_helios_did(tmp_path):
    data = shared_data()
    if data is None:
        pytest.skip("no shared data directory")

    done = run_in(tmp_path, "--trace", str(data / "philly_sample_2017-12-01.csv"), "--teams",
                  str(data / "philly_vc_config.csv"), "--isolated", "--policies", "fifo,sjf,srtf")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("526 jobs from ")
    assert list(rows(done.stdout)) == ["fifo", "sjf", "srtf"]
    assert "unscheduled: 1 job of team 925e2b (team 925e2b has no quota in philly_vc_config.csv)" in done.stdout
    assert (tmp_path / "philly_sample_2017-12-01.compare.png").exists()
