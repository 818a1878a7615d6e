"""The digits example end to end: its six steps run as subprocesses, wired as the executor would.

The environment of each step comes from ``scheduling.jobspec.job_spec_for``, the function the
dispatcher uses, on top of the base environment the local executor gives every step. No
database: one module-scoped run serves every assertion about artifacts and accuracy.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import pytest

from pipelines import dag
from pipelines.examples import EXAMPLES, load_example
from pipelines.spec import STEP_TYPES, PipelineSpec, StepSpec, spec_from_dict
from scheduling.jobspec import artifact_path, job_spec_for

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 240
PRIVATE_ENV_PREFIXES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "TRELLIS_")


def topological_order(spec: PipelineSpec) -> list[StepSpec]:
    graph = TopologicalSorter({s.name: s.upstream for s in spec.steps})
    return [spec.step(name) for name in graph.static_order()]


def artifact(workdir: Path, ref: str) -> Path:
    """The path of ``"<step>.<output>"`` in the working area ``workdir``."""
    step, _, output = ref.partition(".")
    return Path(artifact_path(str(workdir), step, output))


def step_env(step: StepSpec, workdir: Path, *, attempt: int = 1, **params: str) -> dict[str, str]:
    """What the local executor gives a step: its own base environment plus the job's env."""
    job = job_spec_for(
        run_id=1, team="test", step=step, attempt=attempt, workdir=str(workdir), parameters=params
    )
    for directory in job.artifact_dirs:
        os.makedirs(directory, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_ENV_PREFIXES)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    env["PYTHONPATH"] = str(REPO)
    env.update(job.env)
    return env


def run_step(step: StepSpec, env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(step.command), cwd=workdir, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )


def copy_artifacts(source: Path, target: Path, *refs: str) -> None:
    for ref in refs:
        artifact(target, ref).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact(source, ref), artifact(target, ref))


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return spec_from_dict(load_example("digits"))


@pytest.fixture(scope="module")
def run(spec: PipelineSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One whole run, steps in dependency order: its working area and each step's log."""
    workdir = tmp_path_factory.mktemp("digits")
    logs: dict[str, str] = {}
    for step in topological_order(spec):
        done = run_step(step, step_env(step, workdir), workdir)
        logs[step.name] = done.stdout + done.stderr
        assert done.returncode == 0, f"step {step.name} exited {done.returncode}:\n{logs[step.name]}"
    return workdir, logs


@pytest.fixture(scope="module")
def workdir(run: tuple[Path, dict[str, str]]) -> Path:
    return run[0]


@pytest.fixture(scope="module")
def logs(run: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return run[1]


def read_json(workdir: Path, ref: str) -> dict:
    return json.loads(artifact(workdir, ref).read_text())


# --- the spec -------------------------------------------------------------------------------


def test_the_digits_example_is_listed_and_has_a_description() -> None:
    data = load_example("digits")

    assert "digits" in EXAMPLES
    assert set(data) == {"description", "steps"}
    assert data["description"]


def test_an_unknown_example_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="digits"):
        load_example("no-such-example")


def test_the_spec_passes_validation(spec: PipelineSpec) -> None:
    assert [p.message for p in dag.validate(spec)] == []


def test_the_spec_has_six_well_formed_steps(spec: PipelineSpec) -> None:
    assert spec.names == ("prepare", "train-mlp", "train-cnn", "evaluate-mlp", "evaluate-cnn", "select-best")
    for step in spec.steps:
        assert step.type in STEP_TYPES
        assert step.command[:2] == ("python", "-m")
        assert step.command[2].startswith("pipelines.examples.digits.")
        assert step.resources.gpu == 0 and step.resources.cpu == 1
        assert 256 <= step.resources.memory_mb <= 2048
        assert step.retries == 1
        assert 0 < step.estimated_s < step.timeout_s


def test_every_input_names_an_existing_producers_output(spec: PipelineSpec) -> None:
    outputs = {f"{s.name}.{o}" for s in spec.steps for o in s.outputs}

    dangling = [
        (s.name, local, source) for s in spec.steps for local, source in s.inputs.items() if source not in outputs
    ]

    assert dangling == []


def test_both_trainers_depend_only_on_prepare_so_they_run_in_parallel(spec: PipelineSpec) -> None:
    assert dag.layers(spec) == [
        ["prepare"], ["train-mlp", "train-cnn"], ["evaluate-mlp", "evaluate-cnn"], ["select-best"]
    ]


def test_steps_are_laid_out_left_to_right_in_dependency_order(spec: PipelineSpec) -> None:
    for step in spec.steps:
        for upstream in step.upstream:
            assert spec.step(upstream).position["x"] < step.position["x"], (upstream, step.name)


# --- one end-to-end run ---------------------------------------------------------------------


def test_every_step_writes_its_declared_outputs(spec: PipelineSpec, workdir: Path) -> None:
    refs = [f"{s.name}.{o}" for s in spec.steps for o in s.outputs]

    assert [ref for ref in refs if not artifact(workdir, ref).exists()] == []
    assert (artifact(workdir, "train-cnn.model") / "state_dict.pt").is_file()
    assert (artifact(workdir, "select-best.model") / "model.json").is_file()


def test_no_step_leaves_temporary_files_behind(workdir: Path) -> None:
    assert list((workdir / "artifacts").rglob(".*.tmp-*")) == []


def test_both_models_reach_ninety_percent_accuracy(workdir: Path) -> None:
    accuracy = read_json(workdir, "select-best.metrics")["accuracy"]

    assert set(accuracy) == {"mlp", "cnn"}
    assert all(a >= 0.90 for a in accuracy.values()), accuracy


def test_select_best_keeps_the_more_accurate_model(workdir: Path) -> None:
    metrics = read_json(workdir, "select-best.metrics")
    best = metrics["best"]
    chosen = json.loads((artifact(workdir, "select-best.model") / "model.json").read_text())

    assert metrics["accuracy"][best] == max(metrics["accuracy"].values())
    assert chosen["arch"] == metrics["best_metrics"]["arch"] == best
    assert chosen == json.loads((artifact(workdir, f"train-{best}.model") / "model.json").read_text())


def test_select_best_prints_its_metrics_json_as_the_last_log_line(
    workdir: Path, logs: dict[str, str]
) -> None:
    last_line = logs["select-best"].strip().splitlines()[-1]

    assert json.loads(last_line) == read_json(workdir, "select-best.metrics")


def test_evaluation_reports_loss_per_class_accuracy_and_confusion(workdir: Path) -> None:
    metrics = read_json(workdir, "evaluate-cnn.metrics")

    assert metrics["arch"] == "cnn"
    assert metrics["loss"] > 0
    assert set(metrics["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert sum(map(sum, metrics["confusion"])) == metrics["n_test"] == 450


def test_training_logs_one_line_per_epoch(workdir: Path, logs: dict[str, str]) -> None:
    model = json.loads((artifact(workdir, "train-mlp.model") / "model.json").read_text())

    assert logs["train-mlp"].count("train_acc") == model["epochs"] == len(model["history"])
    assert "epoch   1/" in logs["train-mlp"]


# --- failures and retries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_name", "message"),
    [
        pytest.param("train-mlp", "missing input 'dataset': TRELLIS_INPUT_DATASET is not set", id="train"),
        pytest.param("evaluate-cnn", "missing input 'model': TRELLIS_INPUT_MODEL is not set", id="evaluate"),
        pytest.param(
            "select-best",
            "missing input 'mlp_metrics': TRELLIS_INPUT_MLP_METRICS is not set",
            id="select-best",
        ),
    ],
)
def test_a_missing_input_exits_two_with_one_clear_line(
    spec: PipelineSpec, tmp_path: Path, step_name: str, message: str
) -> None:
    step = spec.step(step_name)
    env = {k: v for k, v in step_env(step, tmp_path).items() if not k.startswith("TRELLIS_INPUT_")}

    done = run_step(step, env, tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == f"{step_name}: error: {message}"


def test_an_input_that_does_not_exist_is_named_in_the_error(spec: PipelineSpec, tmp_path: Path) -> None:
    step = spec.step("evaluate-mlp")

    done = run_step(step, step_env(step, tmp_path), tmp_path)

    assert done.returncode == 2
    assert "input 'model' does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_non_integer_parameter_is_refused_clearly(
    spec: PipelineSpec, workdir: Path, tmp_path: Path
) -> None:
    step = spec.step("train-mlp")
    copy_artifacts(workdir, tmp_path, "prepare.dataset")

    done = run_step(step, step_env(step, tmp_path, epochs="many"), tmp_path)

    assert done.returncode == 2
    assert "parameter 'epochs' must be an integer, got 'many'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_terminated_step_exits_143_and_leaves_no_temporary_files(
    spec: PipelineSpec, workdir: Path, tmp_path: Path
) -> None:
    step = spec.step("train-cnn")
    copy_artifacts(workdir, tmp_path, "prepare.dataset")
    proc = subprocess.Popen(
        list(step.command), cwd=tmp_path, env=step_env(step, tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:
        if line.startswith("epoch   2/"):
            proc.send_signal(signal.SIGTERM)  # what the local executor sends on cancel or timeout
            break

    _, stderr = proc.communicate(timeout=STEP_TIMEOUT_S)

    assert proc.returncode == 143
    assert stderr.strip() == "train-cnn: stopped by SIGTERM"
    assert list(tmp_path.rglob(".*.tmp-*")) == []
    assert (tmp_path / "checkpoints" / "train-cnn" / "train-cnn.pt").is_file()


def test_an_interrupted_training_resumes_from_its_checkpoint_with_the_same_weights(
    spec: PipelineSpec, workdir: Path, tmp_path: Path
) -> None:
    import torch

    step = spec.step("train-mlp")
    copy_artifacts(workdir, tmp_path, "prepare.dataset")
    # Attempt 1 is killed outright, as an evicted pod or a lost node would be, a few epochs in.
    first = subprocess.Popen(
        list(step.command), cwd=tmp_path, env=step_env(step, tmp_path), stdout=subprocess.PIPE, text=True
    )
    for line in first.stdout:
        if line.startswith("epoch   3/"):
            first.send_signal(signal.SIGKILL)
            break
    first.wait(timeout=STEP_TIMEOUT_S)
    first.stdout.close()

    second = run_step(step, step_env(step, tmp_path, attempt=2), tmp_path)

    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0, second.stderr
    assert "attempt 2: resuming after epoch" in second.stdout
    epochs = json.loads((artifact(workdir, "train-mlp.model") / "model.json").read_text())["epochs"]
    assert f"epoch {epochs:>3}/{epochs}" in second.stdout  # attempt 2 trained, it did not merely re-save
    resumed = torch.load(artifact(tmp_path, "train-mlp.model") / "state_dict.pt", weights_only=True)
    original = torch.load(artifact(workdir, "train-mlp.model") / "state_dict.pt", weights_only=True)
    assert resumed.keys() == original.keys()
    assert all(torch.equal(resumed[k], original[k]) for k in original)
