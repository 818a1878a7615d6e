"""pipelines.dag: every problem at once, named steps, and plans that respect every edge.

Runs without Django: ``pytest tests/core/test_dag.py -p no:django``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines import dag
from pipelines.spec import (
    DEFAULT_ESTIMATE_S,
    STEP_TYPES,
    PipelineSpec,
    Problem,
    spec_from_dict,
    spec_to_dict,
)
from tests.builders import chain, node_limits, spec, step

REPO = Path(__file__).resolve().parents[2]


def digits_like() -> PipelineSpec:
    return spec(
        step("prepare", type="data_prep", outputs=["features", "labels"]),
        step("train", type="train", inputs={"x": "prepare.features", "y": "prepare.labels"},
             outputs=["model"]),
        step("evaluate", type="evaluate", inputs={"model": "train.model"},
             depends_on=["prepare"]),
    )


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# -- one test per problem kind ---------------------------------------------------------------


def test_a_well_formed_pipeline_has_no_problems():
    assert dag.validate(digits_like()) == []


def test_a_pipeline_without_steps_is_reported_as_empty():
    assert dag.validate(spec()) == [Problem("empty", "the pipeline has no steps", field="steps")]


def test_a_duplicate_step_name_is_named_with_its_indices():
    problem = only(dag.validate(spec(step("a"), step("b", depends_on=["a"]), step("a"))),
                   "duplicate_name")
    assert problem.message == "step name 'a' is used by 2 steps (steps[0] and steps[2])"
    assert problem.steps == ("a",)
    assert problem.field == "steps[2].name"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Train_MLP", "step name 'Train_MLP' must be lowercase letters, digits and '-'"),
        ("2fast", "step name '2fast' must start with a letter"),
        ("train-", "step name 'train-' must end with a letter or digit"),
        ("a" * 64, f"step name '{'a' * 64}' must be at most 63 characters long (it has 64)"),
        ("", "step name '' must not be empty"),
        ("-X-", "step name '-X-' must be lowercase letters, digits and '-', and must start with"
                " a letter, and must end with a letter or digit"),
    ],
    ids=["uppercase and underscore", "starts with a digit", "ends with a dash", "too long",
         "empty", "breaks three rules at once"],
)
def test_a_step_name_that_is_not_a_dns_label_says_which_rule_it_breaks(name, message):
    problem = only(dag.validate(spec(step(name))), "invalid_name")
    assert problem.message == message
    assert problem.steps == (name,)
    assert problem.field == "steps[0].name"


@pytest.mark.parametrize("name", ["a", "train-mlp-2", "x" * 63], ids=["one letter", "dashes",
                                                                      "63 characters"])
def test_a_dns_label_is_a_valid_step_name(name):
    assert dag.validate(spec(step(name))) == []


def test_artifact_names_must_be_lowercase_identifiers():
    problems = dag.validate(spec(
        step("prepare", outputs=["Dataset", "ok_2"]),
        step("train", inputs={"my-data": "prepare.ok_2"}),
    ))
    assert [(p.code, p.message, p.steps, p.field) for p in problems] == [
        ("invalid_artifact_name",
         "output name 'Dataset' of step 'prepare' must be a lowercase identifier:"
         " a-z, 0-9 and '_', starting with a letter",
         ("prepare",), "steps[0].outputs[0]"),
        ("invalid_artifact_name",
         "input name 'my-data' of step 'train' must be a lowercase identifier:"
         " a-z, 0-9 and '_', starting with a letter",
         ("train",), "steps[1].inputs.my-data"),
    ]


def test_an_output_declared_twice_by_one_step_is_reported():
    problem = only(dag.validate(spec(step("prepare", outputs=["data", "data"]))),
                   "duplicate_output")
    assert problem.message == "step 'prepare' declares output 'data' more than once"
    assert problem.steps == ("prepare",)
    assert problem.field == "steps[0].outputs[1]"


def test_an_unknown_step_type_lists_the_known_ones():
    problem = only(dag.validate(spec(step("train", type="trian"))), "unknown_type")
    assert problem.message == (
        "step 'train' has unknown type 'trian'"
        " (known types: python, data_prep, train, evaluate, export, custom)"
    )
    assert (problem.steps, problem.field) == (("train",), "steps[0].type")


@pytest.mark.parametrize("command", [(), ("",), (" ", "x")], ids=["none", "empty", "blank"])
def test_a_step_without_a_command_is_reported(command):
    problem = only(dag.validate(spec(step("train", command=command))), "empty_command")
    assert problem.message == "step 'train' has no command to run"
    assert (problem.steps, problem.field) == (("train",), "steps[0].command")


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("1SEED", "is not a valid name (letters, digits and '_', not starting with a digit)"),
        ("MY-VAR", "is not a valid name (letters, digits and '_', not starting with a digit)"),
        ("TRELLIS_INPUT_DATA", "is reserved: names starting with TRELLIS_ are set by Trellis"),
    ],
    ids=["starts with a digit", "has a dash", "uses the reserved prefix"],
)
def test_an_env_name_that_is_no_shell_identifier_or_is_reserved_is_reported(key, rule):
    problem = only(dag.validate(spec(step("train", env={key: "1", "SEED": "0"}))), "invalid_env")
    assert problem.message == f"environment variable '{key}' of step 'train' {rule}"
    assert (problem.steps, problem.field) == (("train",), f"steps[0].env.{key}")


def test_a_dependency_on_a_missing_step_is_reported():
    problem = only(dag.validate(spec(step("train", depends_on=["prep"]))), "unknown_dependency")
    assert problem.message == "step 'train' depends on 'prep', which is not a step"
    assert (problem.steps, problem.field) == (("train",), "steps[0].depends_on[0]")


def test_a_step_depending_on_itself_is_reported_once_per_reference_and_not_as_a_cycle():
    problems = dag.validate(spec(step("train", depends_on=["train"], outputs=["model"],
                                      inputs={"old": "train.model"})))
    assert [(p.code, p.message, p.field) for p in problems] == [
        ("self_dependency", "step 'train' depends on itself", "steps[0].depends_on[0]"),
        ("self_dependency", "input 'old' of step 'train' comes from step 'train' itself",
         "steps[0].inputs.old"),
    ]


@pytest.mark.parametrize("source", ["prepare", "prepare.", ".data", "a.b.c"])
def test_an_input_not_written_as_producer_dot_output_is_reported(source):
    problem = only(dag.validate(spec(step("train", inputs={"data": source}))), "invalid_input")
    assert problem.message == (
        f"input 'data' of step 'train' must be '<step>.<output>', not '{source}'"
    )
    assert (problem.steps, problem.field) == (("train",), "steps[0].inputs.data")


def test_an_input_from_a_missing_step_names_that_producer():
    problem = only(dag.validate(spec(step("train", inputs={"data": "prep.dataset"}))),
                   "unknown_producer")
    assert problem.message == (
        "input 'data' of step 'train' comes from step 'prep', which does not exist"
    )
    assert (problem.steps, problem.field) == (("train",), "steps[0].inputs.data")


def test_an_input_the_producer_does_not_declare_says_which_step_lacks_which_output():
    problems = dag.validate(spec(
        step("prepare", outputs=["features", "labels"]),
        step("train", inputs={"data": "prepare.dataset"}),
    ))
    problem = only(problems, "missing_output")
    assert problem.message == (
        "input 'data' of step 'train': step 'prepare' has no output 'dataset'"
        " (it produces: features, labels)"
    )
    assert problem.steps == ("train", "prepare")
    assert problem.field == "steps[1].inputs.data"


def test_a_producer_without_outputs_is_said_to_produce_nothing():
    problems = dag.validate(spec(step("prepare"), step("train", inputs={"data": "prepare.x"})))
    assert only(problems, "missing_output").message == (
        "input 'data' of step 'train': step 'prepare' has no output 'x' (it produces nothing)"
    )


def test_cycle_is_named_in_order():
    problems = dag.validate(spec(
        step("prepare", depends_on=["evaluate"]),
        step("train", depends_on=["prepare"]),
        step("evaluate", depends_on=["train"]),
    ))
    assert problems == [Problem("cycle", "cycle: prepare -> train -> evaluate -> prepare",
                                steps=("prepare", "train", "evaluate"))]


def test_a_cycle_starts_at_its_earliest_step_whatever_the_edge_order():
    problems = dag.validate(spec(
        step("report"),
        step("b", depends_on=["a", "report"]),
        step("a", depends_on=["b"]),
    ))
    assert only(problems, "cycle").message == "cycle: b -> a -> b"


def test_each_distinct_cycle_is_reported():
    # Two loops through "hub" plus a separate one: three cycles, shortest first per tangle.
    problems = dag.validate(spec(
        step("hub", depends_on=["left", "right-2"]),
        step("left", depends_on=["hub"]),
        step("right-1", depends_on=["hub"]),
        step("right-2", depends_on=["right-1"]),
        step("x", depends_on=["y", "hub"]),
        step("y", depends_on=["x"]),
    ))
    assert [p.message for p in problems if p.code == "cycle"] == [
        "cycle: hub -> left -> hub",
        "cycle: hub -> right-1 -> right-2 -> hub",
        "cycle: x -> y -> x",
    ]


def test_a_dense_graph_reports_a_bounded_number_of_short_cycles_quickly():
    names = [f"s{i}" for i in range(40)]
    complete = spec(*(step(n, depends_on=[m for m in names if m != n]) for n in names))
    started = time.perf_counter()
    problems = dag.validate(complete)
    assert time.perf_counter() - started < 2.0
    assert codes(problems) == ["cycle"] * dag.MAX_CYCLES
    assert [p.steps for p in problems[:3]] == [("s0", "s1"), ("s0", "s2"), ("s0", "s3")]


def test_a_tangle_with_many_long_cycles_reports_its_short_ones():
    names = [f"s{i}" for i in range(30)]
    tangled = spec(*(step(n, depends_on=[m for m in names[i % 7::3] if m != n])
                     for i, n in enumerate(names)))
    cycles = [p.steps for p in dag.validate(tangled)]
    assert len(cycles) == dag.MAX_CYCLES
    assert cycles[:3] == [("s0", "s21"), ("s1", "s22"), ("s2", "s23")]
    assert all(len(c) == 2 for c in cycles)


def test_every_tangle_gets_a_cycle_even_beyond_the_limit():
    pairs = dag.MAX_CYCLES + 5
    loops = spec(*(s for i in range(pairs) for s in (step(f"a{i}", depends_on=[f"b{i}"]),
                                                      step(f"b{i}", depends_on=[f"a{i}"]))))
    cycles = [p for p in dag.validate(loops) if p.code == "cycle"]
    assert [p.steps for p in cycles] == [(f"a{i}", f"b{i}") for i in range(pairs)]


@pytest.mark.parametrize(
    ("resources", "message", "field"),
    [
        ({"cpu": 0}, "step 'train' asks for 0 cpu; cpu must be greater than 0", "cpu"),
        ({"cpu": -0.5}, "step 'train' asks for -0.5 cpu; cpu must be greater than 0", "cpu"),
        ({"memory_mb": 0}, "step 'train' asks for 0 memory_mb; memory_mb must be greater than 0",
         "memory_mb"),
        ({"gpu": -1}, "step 'train' asks for -1 gpu; gpu must be 0 or more", "gpu"),
    ],
    ids=["no cpu", "negative cpu", "no memory", "negative gpu"],
)
def test_resources_out_of_range_are_rejected(resources, message, field):
    problem = only(dag.validate(spec(step("train", resources=resources))), "invalid_resources")
    assert problem.message == message
    assert (problem.steps, problem.field) == (("train",), f"steps[0].resources.{field}")


@pytest.mark.parametrize(
    ("fields", "code", "message", "field"),
    [
        ({"retries": -1}, "invalid_retries", "step 'train' has retries -1; it must be 0 or more",
         "retries"),
        ({"timeout_s": 0}, "invalid_timeout",
         "step 'train' has timeout_s 0; it must be greater than 0", "timeout_s"),
        ({"estimate_s": -5.0}, "invalid_estimate",
         "step 'train' has estimate_s -5; it must be 0 or more", "estimate_s"),
    ],
    ids=["negative retries", "zero timeout", "negative estimate"],
)
def test_run_settings_out_of_range_are_rejected(fields, code, message, field):
    problem = only(dag.validate(spec(step("train", **fields))), code)
    assert problem.message == message
    assert (problem.steps, problem.field) == (("train",), f"steps[0].{field}")


@pytest.mark.parametrize(
    ("resources", "message", "field"),
    [
        ({"cpu": 16}, "step 'train' asks for 16 cpu but the largest node has 8", "cpu"),
        ({"memory_mb": 65536},
         "step 'train' asks for 65536 MB of memory but the largest node has 32768 MB",
         "memory_mb"),
        ({"gpu": 5}, "step 'train' asks for 5 gpu but the largest node has 4", "gpu"),
    ],
    ids=["cpu", "memory", "gpu"],
)
def test_a_request_above_the_largest_node_names_the_limit(resources, message, field):
    problem = only(dag.validate(spec(step("train", resources=resources)), node_limits()),
                   "exceeds_node")
    assert problem.message == message
    assert (problem.steps, problem.field) == (("train",), f"steps[0].resources.{field}")


def test_a_request_that_fits_the_largest_node_exactly_is_accepted():
    exact = step("train", resources={"cpu": 8, "memory_mb": 32768, "gpu": 4})
    assert dag.validate(spec(exact), node_limits()) == []


def test_without_node_limits_sizes_are_not_checked():
    assert dag.validate(spec(step("train", resources={"cpu": 1000, "gpu": 64}))) == []


def test_separate_parts_are_a_warning_naming_each_part():
    problems = dag.validate(spec(step("prepare"), step("lint"), step("train",
                                                                       depends_on=["prepare"])))
    assert problems == [Problem(
        "disconnected",
        "the pipeline falls into 2 unconnected parts: [prepare, train], [lint]",
        steps=("prepare", "lint", "train"),
        severity="warning",
    )]


# -- all at once, in order -------------------------------------------------------------------


def test_a_spec_with_several_problems_reports_all_of_them_in_step_order():
    problems = dag.validate(spec(
        step("prepare", outputs=["features"], depends_on=["evaluate"]),
        step("Train", inputs={"data": "prepare.dataset"}, resources={"gpu": 9}, command=[]),
        step("evaluate", depends_on=["Train", "ghost"], type="eval"),
        step("prepare", env={"TRELLIS_RUN": "1"}),
    ), node_limits())
    assert [(p.code, p.steps) for p in problems] == [
        ("cycle", ("prepare", "Train", "evaluate")),
        ("empty_command", ("Train",)),
        ("exceeds_node", ("Train",)),
        ("invalid_name", ("Train",)),
        ("missing_output", ("Train", "prepare")),
        ("unknown_dependency", ("evaluate",)),
        ("unknown_type", ("evaluate",)),
        ("duplicate_name", ("prepare",)),
        ("invalid_env", ("prepare",)),
    ]


# -- graph, layers, critical path, plan, neighbours ------------------------------------------


def test_graph_has_producer_to_consumer_edges_and_ignores_unknown_steps():
    g = dag.graph(spec(step("a", outputs=["x"]), step("b", inputs={"x": "a.x"},
                                                       depends_on=["ghost"])))
    assert list(g.nodes) == ["a", "b"]
    assert list(g.edges) == [("a", "b")]


def test_layers_group_steps_by_generation_in_spec_order():
    pipeline = spec(
        step("report", depends_on=["train", "evaluate"]),
        step("train", depends_on=["prepare"]),
        step("lint"),
        step("evaluate", depends_on=["train"]),
        step("prepare"),
    )
    assert dag.layers(pipeline) == [["lint", "prepare"], ["train"], ["evaluate"], ["report"]]


def test_layers_of_a_cyclic_pipeline_raise_an_error_naming_the_cycle():
    with pytest.raises(ValueError, match=r"^the pipeline has a cycle: a -> b -> a$"):
        dag.layers(spec(step("a", depends_on=["b"]), step("b", depends_on=["a"])))


def test_layers_of_a_step_depending_on_itself_raise_an_error_naming_it():
    with pytest.raises(ValueError, match=r"cycle: a -> a$"):
        dag.layers(spec(step("a", depends_on=["a"])))


def test_critical_path_follows_the_longest_chain_of_estimates():
    pipeline = spec(
        step("prepare", estimate_s=10),
        step("quick", depends_on=["prepare"], estimate_s=5),
        step("slow", depends_on=["prepare"], estimate_s=50),
        step("report", depends_on=["quick", "slow"], estimate_s=1),
        step("side", estimate_s=60),
    )
    assert dag.critical_path(pipeline) == (["prepare", "slow", "report"], 61.0)


def test_critical_path_falls_back_to_the_default_estimate_of_the_step_type():
    pipeline = spec(step("prepare", type="data_prep"), step("train", type="train",
                                                             depends_on=["prepare"]))
    expected = DEFAULT_ESTIMATE_S["data_prep"] + DEFAULT_ESTIMATE_S["train"]
    assert dag.critical_path(pipeline) == (["prepare", "train"], expected)


def test_critical_path_ties_go_to_the_steps_earliest_in_spec_order():
    pipeline = spec(step("b", estimate_s=5), step("a", estimate_s=5),
                    step("c", depends_on=["a", "b"], estimate_s=1))
    assert dag.critical_path(pipeline) == (["b", "c"], 6.0)


def test_critical_path_of_an_empty_pipeline_is_empty():
    assert dag.critical_path(spec()) == ([], 0.0)


def test_plan_of_a_valid_pipeline_is_json_plain_with_layers_and_critical_path():
    result = dag.plan(digits_like())
    assert json.loads(json.dumps(result)) == result
    assert result == {
        "problems": [],
        "is_valid": True,
        "layers": [["prepare"], ["train"], ["evaluate"]],
        "critical_path": {
            "steps": ["prepare", "train", "evaluate"],
            "estimated_s": DEFAULT_ESTIMATE_S["data_prep"] + DEFAULT_ESTIMATE_S["train"]
            + DEFAULT_ESTIMATE_S["evaluate"],
        },
    }


def test_plan_with_only_warnings_is_valid():
    result = dag.plan(spec(step("a"), step("b")))
    assert result["is_valid"] is True
    assert [p["code"] for p in result["problems"]] == ["disconnected"]
    assert result["problems"][0]["steps"] == ["a", "b"]


def test_plan_of_a_cyclic_pipeline_has_problems_but_no_layers():
    result = dag.plan(spec(step("a", depends_on=["b"]), step("b", depends_on=["a"])))
    assert result["is_valid"] is False
    assert result["layers"] == []
    assert result["critical_path"] is None
    assert result["problems"][0]["message"] == "cycle: a -> b -> a"


def test_plan_of_an_empty_pipeline_is_invalid_without_a_plan():
    assert dag.plan(spec()) == {
        "problems": [{"code": "empty", "message": "the pipeline has no steps", "steps": [],
                      "severity": "error", "field": "steps"}],
        "is_valid": False,
        "layers": [],
        "critical_path": None,
    }


def test_downstream_holds_every_transitive_dependent():
    pipeline = spec(step("a"), step("b", depends_on=["a"]), step("c", depends_on=["b"]),
                    step("d", depends_on=["a"]), step("e"))
    assert dag.downstream(pipeline, "a") == {"b", "c", "d"}
    assert dag.downstream(pipeline, "c") == set()


def test_upstream_of_holds_direct_dependencies_and_producers_only():
    pipeline = spec(step("a", outputs=["x"]), step("b", depends_on=["a"]), step("c"),
                    step("d", depends_on=["b"], inputs={"x": "a.x"}))
    assert dag.upstream_of(pipeline, "d") == {"a", "b"}
    assert dag.upstream_of(pipeline, "a") == set()


def test_neighbours_of_an_unknown_step_raise_key_error():
    with pytest.raises(KeyError):
        dag.downstream(chain("a", "b"), "ghost")
    with pytest.raises(KeyError):
        dag.upstream_of(chain("a", "b"), "ghost")


def test_validating_a_500_step_pipeline_takes_well_under_50_ms():
    steps = [step(f"s{j}", outputs=["out"], inputs={f"in{k}": f"s{i}.out"
                                                     for k, i in enumerate({j // 2, j - 1})},
                  depends_on=[f"s{j // 3}"]) for j in range(1, 500)]
    pipeline = spec(step("s0", outputs=["out"]), *steps)
    dag.validate(pipeline)  # warm up
    best = min(_timed(lambda: dag.validate(pipeline)) for _ in range(5))
    assert best < 0.05


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# -- no Django, same answer in every process -------------------------------------------------


def _run_python(code: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, **env}, check=True)
    return result.stdout


def test_dag_imports_without_django():
    code = "import sys, pipelines.dag; print('django' in sys.modules)"
    assert _run_python(code).strip() == "False"


def test_cycles_reported_are_the_same_in_every_process():
    code = (
        "from pipelines import dag; from tests.builders import spec, step\n"
        "names = [f'step-{i}' for i in range(30)]\n"
        "s = spec(*(step(n, depends_on=names[i % 7::3]) for i, n in enumerate(names)))\n"
        "print([p.message for p in dag.validate(s)])"
    )
    outputs = {_run_python(code, PYTHONHASHSEED=seed) for seed in ("1", "2", "3")}
    assert len(outputs) == 1


# -- properties ------------------------------------------------------------------------------


@st.composite
def dags(draw, min_edges: int = 0) -> tuple[PipelineSpec, set[tuple[str, str]]]:
    """A random DAG (edges only from lower to higher index) in a shuffled spec order, its
    edges made partly of ``depends_on`` entries, partly of inputs; and its edge set."""
    n = draw(st.integers(min_value=1 if min_edges == 0 else 2, max_value=20))
    names = [f"s{i}" for i in range(n)]
    edges = {(i, j) for j in range(1, n)
             for i in draw(st.sets(st.integers(0, j - 1), max_size=3))}
    if len(edges) < min_edges:
        edges.add((0, n - 1))
    as_input = draw(st.sets(st.sampled_from(sorted(edges)))) if edges else set()
    steps = []
    for j in draw(st.permutations(range(n))):
        ups = sorted(i for i, k in edges if k == j)
        steps.append(step(
            names[j],
            type=draw(st.sampled_from(STEP_TYPES)),
            estimate_s=draw(st.none() | st.floats(0, 1e4, allow_nan=False)),
            outputs=["out"],
            depends_on=[names[i] for i in ups if (i, j) not in as_input],
            inputs={f"in_{i}": f"{names[i]}.out" for i in ups if (i, j) in as_input},
        ))
    return spec(*steps), {(names[i], names[j]) for i, j in edges}


@st.composite
def messy_specs(draw) -> PipelineSpec:
    """Anything the editor might send: bad and repeated names, unknown references, cycles."""
    names = ["a", "b", "c", "d", "Bad_Name", "e-", "x" * 70]
    pick = st.sampled_from(names + ["ghost"])
    steps = draw(st.lists(st.builds(
        step,
        pick,
        depends_on=st.lists(pick, max_size=3),
        inputs=st.dictionaries(st.sampled_from(["data", "Model", "x"]),
                               st.sampled_from(["a.out", "b.model", "ghost.out", "c", "a.b.c"]),
                               max_size=2),
        outputs=st.lists(st.sampled_from(["out", "model", "Bad"]), max_size=3),
        type=st.sampled_from(STEP_TYPES + ("nope",)),
        resources=st.fixed_dictionaries({"cpu": st.integers(-1, 20), "gpu": st.integers(-1, 9)}),
        env=st.dictionaries(st.sampled_from(["SEED", "TRELLIS_X", "1A"]), st.just("1")),
    ), max_size=8))
    return spec(*steps)


@given(dags())
def test_random_dags_validate_without_errors(drawn):
    pipeline, _ = drawn
    problems = dag.validate(pipeline)
    assert [p for p in problems if p.severity == "error"] == []


@given(dags())
def test_layers_hold_each_step_once_and_every_edge_goes_to_a_later_layer(drawn):
    pipeline, edges = drawn
    layer_of = {}
    for depth, layer in enumerate(dag.layers(pipeline)):
        assert layer, "no empty layers"
        for name in layer:
            assert name not in layer_of
            layer_of[name] = depth
    assert set(layer_of) == set(pipeline.names)
    assert all(layer_of[u] < layer_of[v] for u, v in edges)


@given(dags(min_edges=1), st.data())
def test_a_back_edge_in_a_random_dag_is_reported_as_a_cycle_that_exists(drawn, data):
    pipeline, edges = drawn
    g = dag.graph(pipeline)
    start = data.draw(st.sampled_from(sorted({u for u, _ in edges})))
    end = data.draw(st.sampled_from(sorted(dag.downstream(pipeline, start))))
    closed = PipelineSpec(tuple(
        replace(s, depends_on=(*s.depends_on, end)) if s.name == start else s
        for s in pipeline.steps
    ))
    g.add_edge(end, start)
    cycles = [p for p in dag.validate(closed) if p.code == "cycle"]
    assert cycles
    for problem in cycles:
        ring = problem.steps
        assert len(set(ring)) == len(ring) >= 2
        assert all(g.has_edge(u, v) for u, v in zip(ring, ring[1:] + ring[:1]))
        assert {start, end} <= set(ring)  # the one back edge closes every cycle
        assert problem.message == "cycle: " + " -> ".join([*ring, ring[0]])
    with pytest.raises(ValueError, match="cycle"):
        dag.layers(closed)


@given(dags())
def test_critical_path_is_a_longest_chain_and_sums_its_estimates(drawn):
    pipeline, edges = drawn
    path, total = dag.critical_path(pipeline)
    estimate = {s.name: s.estimated_s for s in pipeline.steps}
    assert all((u, v) in edges for u, v in zip(path, path[1:]))
    assert total == pytest.approx(sum(estimate[n] for n in path))
    assert all(total >= e for e in estimate.values())
    assert total == pytest.approx(_longest_chain(pipeline.names, frozenset(edges), estimate))


def _longest_chain(names, edges, estimate) -> float:
    """An independent check: the longest chain ending at each step, by plain recursion."""

    @cache
    def ending_at(name: str) -> float:
        return estimate[name] + max((ending_at(u) for u, v in edges if v == name), default=0.0)

    return max(ending_at(n) for n in names)


@given(messy_specs())
def test_validation_is_deterministic_and_plain(pipeline):
    first = dag.plan(pipeline, node_limits())
    assert dag.plan(pipeline, node_limits()) == first
    assert dag.plan(spec_from_dict(spec_to_dict(pipeline)), node_limits()) == first
    assert json.loads(json.dumps(first)) == first


@given(messy_specs())
def test_every_problem_names_steps_of_the_spec_or_none(pipeline):
    for problem in dag.validate(pipeline):
        assert set(problem.steps) <= set(pipeline.names)
        assert problem.message and problem.code
