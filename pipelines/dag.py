"""What is wrong with a pipeline spec, and in what order its steps run.

Plain Python over networkx; no Django. ``validate`` reports every problem at once, so the editor
can show each one beside the steps it names. The planners (``layers``, ``critical_path``) need an
acyclic graph and raise a ``ValueError`` naming the cycle otherwise; ``plan`` bundles all of it
as the JSON-plain answer of the validate endpoint.

The graph has one node per step name and an edge ``producer -> consumer`` for every
``depends_on`` entry and every input's producer; references to unknown steps are left out (they
are reported by ``validate``).
"""
from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import networkx as nx

from pipelines.spec import STEP_TYPES, NodeLimits, PipelineSpec, Problem, StepSpec

MAX_NAME_LENGTH = 63  # a Kubernetes label, and a comfortable environment variable name
ARTIFACT_NAME = re.compile(r"[a-z][a-z0-9_]*")  # becomes TRELLIS_INPUT_<NAME>
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV_PREFIX = "TRELLIS_"  # the executor sets these; a step may not override them
MAX_CYCLES = 10  # reported in all, yet one per tangle at least; dense graphs have countless
MAX_GANG = 256  # pods of one gang step
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")  # a Kubernetes label name/value
LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

_STEP_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "-")
_FIELD_STEP_INDEX = re.compile(r"steps\[(\d+)\]")


# -- the graph and the plan ------------------------------------------------------------------


def graph(spec: PipelineSpec) -> nx.DiGraph:
    """Steps as nodes (in spec order), ``producer -> consumer`` edges between known steps."""
    g = nx.DiGraph()
    g.add_nodes_from(spec.names)
    g.add_edges_from((up, s.name) for s in spec.steps for up in s.upstream if up in g)
    return g


def layers(spec: PipelineSpec) -> list[list[str]]:
    """Topological generations: every step runs after all steps of the layers before it.

    Names inside a layer keep spec order. Raises ``ValueError`` naming a cycle if there is one.
    """
    return _layers(graph(spec), _positions(spec))


def critical_path(spec: PipelineSpec) -> tuple[list[str], float]:
    """The chain of steps with the largest summed ``estimated_s``, and that sum.

    Ties go to the path that ends, and then runs through, the steps earliest in spec order.
    An empty spec gives ``([], 0.0)``; a cycle raises ``ValueError``.
    """
    return _critical_path(spec, graph(spec))


def plan(spec: PipelineSpec, limits: NodeLimits | None = None) -> dict[str, Any]:
    """The validate endpoint's answer, JSON-plain.

    ``layers`` and ``critical_path`` are filled in whenever the graph can be ordered (no cycle,
    at least one step), even if other problems remain, so the editor can show the plan so far.
    """
    g = graph(spec)
    problems = _validate(spec, limits, g)
    ordered, path = [], None
    if spec.steps and nx.is_directed_acyclic_graph(g):
        ordered = _layers(g, _positions(spec))
        names, total = _critical_path(spec, g)
        path = {"steps": names, "estimated_s": total}
    return {
        "problems": [p.as_dict() for p in problems],
        "is_valid": not any(p.severity == "error" for p in problems),
        "layers": ordered,
        "critical_path": path,
    }


def downstream(spec: PipelineSpec, name: str) -> set[str]:
    """Every step that waits, directly or not, on ``name``. Raises ``KeyError`` if unknown."""
    g = graph(spec)
    if name not in g:
        raise KeyError(name)
    return set(nx.descendants(g, name))


def upstream_of(spec: PipelineSpec, name: str) -> set[str]:
    """The steps ``name`` waits for directly. Raises ``KeyError`` if unknown."""
    g = graph(spec)
    if name not in g:
        raise KeyError(name)
    return set(g.predecessors(name))


def _layers(g: nx.DiGraph, position: Mapping[str, int]) -> list[list[str]]:
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError(f"the pipeline has a cycle: {_arrows(_some_cycle(g, position))}")
    return [sorted(layer, key=position.__getitem__) for layer in nx.topological_generations(g)]


def _critical_path(spec: PipelineSpec, g: nx.DiGraph) -> tuple[list[str], float]:
    position = _positions(spec)
    duration = {name: spec.steps[i].estimated_s for name, i in position.items()}
    longest: dict[str, float] = {}  # longest path ending at a step, including it
    before: dict[str, str | None] = {}
    for name in (n for layer in _layers(g, position) for n in layer):
        preds = sorted(g.predecessors(name), key=position.__getitem__)
        best = max(preds, key=longest.__getitem__, default=None)  # first of equals wins
        before[name] = best
        longest[name] = (longest[best] if best is not None else 0.0) + duration[name]
    if not longest:
        return [], 0.0
    end = max(sorted(longest, key=position.__getitem__), key=longest.__getitem__)
    path = [end]
    while (prev := before[path[-1]]) is not None:
        path.append(prev)
    return path[::-1], longest[end]


# -- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What the per-step checks need to know about the rest of the spec."""

    outputs: Mapping[str, tuple[str, ...]]  # step name -> its outputs (first step of a name)
    limits: NodeLimits | None


def validate(spec: PipelineSpec, limits: NodeLimits | None = None) -> list[Problem]:
    """Every problem of ``spec`` at once, ordered by the step they concern, then by code.

    ``limits`` is the largest node of the cluster; without it, sizes are not checked.
    """
    return _validate(spec, limits, graph(spec))


def _validate(spec: PipelineSpec, limits: NodeLimits | None, g: nx.DiGraph) -> list[Problem]:
    if not spec.steps:
        return [Problem("empty", "the pipeline has no steps", field="steps")]
    outputs: dict[str, tuple[str, ...]] = {}
    for step in spec.steps:
        outputs.setdefault(step.name, tuple(step.outputs))
    context = _Context(outputs=outputs, limits=limits)
    problems = list(_check_duplicate_names(spec))
    for index, step in enumerate(spec.steps):
        for check in STEP_CHECKS:
            problems.extend(check(index, step, context))
    position = _positions(spec)
    problems.extend(_check_cycles(g, position))
    problems.extend(_check_connected(g, position))
    return _in_order(problems, position)


def _check_duplicate_names(spec: PipelineSpec) -> Iterator[Problem]:
    indices: dict[str, list[int]] = defaultdict(list)
    for index, step in enumerate(spec.steps):
        indices[step.name].append(index)
    for name, at in indices.items():
        if len(at) > 1:
            where = " and ".join(f"steps[{i}]" for i in at)
            message = f"step name {name!r} is used by {len(at)} steps ({where})"
            yield Problem("duplicate_name", message, steps=(name,), field=f"steps[{at[1]}].name")


def _check_name(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    broken = _step_name_rules_broken(step.name)
    if broken:
        message = f"step name {step.name!r} " + ", and ".join(broken)
        yield _about(step, "invalid_name", message, f"steps[{index}].name")


def _step_name_rules_broken(name: str) -> list[str]:
    """The DNS-1123 label rules ``name`` breaks, as readable phrases."""
    if not name:
        return ["must not be empty"]
    broken = []
    if not set(name) <= _STEP_NAME_CHARS:
        broken.append("must be lowercase letters, digits and '-'")
    if name[0] not in string.ascii_letters:
        broken.append("must start with a letter")
    if name[-1] not in string.ascii_letters + string.digits:
        broken.append("must end with a letter or digit")
    if len(name) > MAX_NAME_LENGTH:
        broken.append(f"must be at most {MAX_NAME_LENGTH} characters long (it has {len(name)})")
    return broken


def _check_type(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    if step.type not in STEP_TYPES:
        known = ", ".join(STEP_TYPES)
        message = f"step {step.name!r} has unknown type {step.type!r} (known types: {known})"
        yield _about(step, "unknown_type", message, f"steps[{index}].type")


def _check_command(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    if not step.command or not step.command[0].strip():
        message = f"step {step.name!r} has no command to run"
        yield _about(step, "empty_command", message, f"steps[{index}].command")


def _check_env(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    for key in step.env:
        if not ENV_NAME.fullmatch(key):
            rule = "is not a valid name (letters, digits and '_', not starting with a digit)"
        elif key.startswith(RESERVED_ENV_PREFIX):
            rule = f"is reserved: names starting with {RESERVED_ENV_PREFIX} are set by Trellis"
        else:
            continue
        message = f"environment variable {key!r} of step {step.name!r} {rule}"
        yield _about(step, "invalid_env", message, f"steps[{index}].env.{key}")


def _check_outputs(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    seen: set[str] = set()
    for k, name in enumerate(step.outputs):
        where = f"steps[{index}].outputs[{k}]"
        broken = _artifact_name_rule_broken(name)
        if broken:
            message = f"output name {name!r} of step {step.name!r} {broken}"
            yield _about(step, "invalid_artifact_name", message, where)
        if name in seen:
            message = f"step {step.name!r} declares output {name!r} more than once"
            yield _about(step, "duplicate_output", message, where)
        seen.add(name)


def _artifact_name_rule_broken(name: str) -> str | None:
    if not ARTIFACT_NAME.fullmatch(name):
        return "must be a lowercase identifier: a-z, 0-9 and '_', starting with a letter"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters long (it has {len(name)})"
    return None


def _check_depends_on(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    for k, name in enumerate(step.depends_on):
        where = f"steps[{index}].depends_on[{k}]"
        if name == step.name:
            yield _about(step, "self_dependency", f"step {step.name!r} depends on itself", where)
        elif name not in context.outputs:
            message = f"step {step.name!r} depends on {name!r}, which is not a step"
            yield _about(step, "unknown_dependency", message, where)


def _check_inputs(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    for local, source in step.inputs.items():
        where = f"steps[{index}].inputs.{local}"
        broken = _artifact_name_rule_broken(local)
        if broken:
            message = f"input name {local!r} of step {step.name!r} {broken}"
            yield _about(step, "invalid_artifact_name", message, where)
        problem = _input_source_problem(step, local, source, context)
        if problem is not None:
            code, message, steps = problem
            yield Problem(code, message, steps=steps, field=where)


def _input_source_problem(
    step: StepSpec, local: str, source: str, context: _Context
) -> tuple[str, str, tuple[str, ...]] | None:
    """What is wrong with ``source`` (``producer.output``) as input ``local`` of ``step``."""
    head = f"input {local!r} of step {step.name!r}"
    parts = source.split(".")
    if len(parts) != 2 or not all(parts):
        return "invalid_input", f"{head} must be '<step>.<output>', not {source!r}", (step.name,)
    producer, output = parts
    if producer == step.name:
        return "self_dependency", f"{head} comes from step {step.name!r} itself", (step.name,)
    if producer not in context.outputs:
        message = f"{head} comes from step {producer!r}, which does not exist"
        return "unknown_producer", message, (step.name,)
    produced = context.outputs[producer]
    if output not in produced:
        offer = f"it produces: {', '.join(produced)}" if produced else "it produces nothing"
        message = f"{head}: step {producer!r} has no output {output!r} ({offer})"
        return "missing_output", message, (step.name, producer)
    return None


def _check_resources(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    r = step.resources
    rules = (
        ("cpu", r.cpu, r.cpu > 0, "greater than 0"),
        ("memory_mb", r.memory_mb, r.memory_mb > 0, "greater than 0"),
        ("gpu", r.gpu, r.gpu >= 0, "0 or more"),
    )
    for name, value, is_ok, rule in rules:
        if not is_ok:
            message = f"step {step.name!r} asks for {_number(value)} {name}; {name} must be {rule}"
            yield _about(step, "invalid_resources", message, f"steps[{index}].resources.{name}")


def _check_run_settings(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    rules = (
        ("invalid_retries", "retries", step.retries, step.retries >= 0, "0 or more"),
        ("invalid_timeout", "timeout_s", step.timeout_s, step.timeout_s > 0, "greater than 0"),
        ("invalid_gang", "gang", step.gang, 1 <= step.gang <= MAX_GANG, f"between 1 and {MAX_GANG}"),
    )
    if step.estimate_s is not None:
        is_ok = step.estimate_s >= 0  # NaN fails too
        rules += (("invalid_estimate", "estimate_s", step.estimate_s, is_ok, "0 or more"),)
    for code, name, value, is_ok, rule in rules:
        if not is_ok:
            message = f"step {step.name!r} has {name} {_number(value)}; it must be {rule}"
            yield _about(step, code, message, f"steps[{index}].{name}")


def _check_node_selector(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    for key, value in step.node_selector.items():
        broken = _label_rule_broken(key, value)
        if broken:
            message = f"step {step.name!r} selects nodes by {key}={value!r}: {broken}"
            yield _about(step, "invalid_node_selector", message, f"steps[{index}].node_selector")


def _label_rule_broken(key: str, value: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and not (len(prefix) <= 253 and LABEL_PREFIX.fullmatch(prefix)):
        return "a label key's prefix must be a DNS subdomain (e.g. 'example.com')"
    if not LABEL_NAME.fullmatch(name):
        return "a label name is 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    if value and not LABEL_NAME.fullmatch(value):
        return "a label value is at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    return None


def _check_node_limits(index: int, step: StepSpec, context: _Context) -> Iterator[Problem]:
    limits, r = context.limits, step.resources
    if limits is None:
        return
    asks = (
        ("cpu", r.cpu, limits.cpu, "{} cpu", "{}"),
        ("memory_mb", r.memory_mb, limits.memory_mb, "{} MB of memory", "{} MB"),
        ("gpu", r.gpu, limits.gpu, "{} gpu", "{}"),
    )
    for name, value, largest, asked, has in asks:
        if value > largest:
            message = (
                f"step {step.name!r} asks for {asked.format(_number(value))}"
                f" but the largest node has {has.format(_number(largest))}"
            )
            yield _about(step, "exceeds_node", message, f"steps[{index}].resources.{name}")


STEP_CHECKS: tuple[Callable[[int, StepSpec, _Context], Iterable[Problem]], ...] = (
    _check_name,
    _check_type,
    _check_command,
    _check_env,
    _check_outputs,
    _check_depends_on,
    _check_inputs,
    _check_resources,
    _check_run_settings,
    _check_node_selector,
    _check_node_limits,
)


def _check_cycles(g: nx.DiGraph, position: Mapping[str, int]) -> Iterator[Problem]:
    # A step naming itself is reported as self_dependency by the per-step checks.
    for cycle in _find_cycles(g, position):
        yield Problem("cycle", f"cycle: {_arrows(cycle)}", steps=tuple(cycle))


def _check_connected(g: nx.DiGraph, position: Mapping[str, int]) -> Iterator[Problem]:
    parts = [sorted(part, key=position.__getitem__) for part in nx.weakly_connected_components(g)]
    if len(parts) < 2:
        return
    parts.sort(key=lambda part: position[part[0]])
    listed = ", ".join("[" + ", ".join(part) + "]" for part in parts)
    yield Problem(
        "disconnected",
        f"the pipeline falls into {len(parts)} unconnected parts: {listed}",
        steps=tuple(sorted(g, key=position.__getitem__)),
        severity="warning",
    )


# -- cycles ----------------------------------------------------------------------------------


def _find_cycles(
    g: nx.DiGraph, position: Mapping[str, int], limit: int = MAX_CYCLES
) -> list[list[str]]:
    """Distinct cycles of two or more steps, each starting at its earliest step in spec order.

    At least one per strongly connected component that has a cycle (a tangle), and otherwise
    at most ``limit`` in all: Johnson's algorithm spends linear time per cycle found, so the
    work stays bounded however dense the graph. Within a tangle, shorter cycles come first.
    """
    tangles = sorted(
        (sorted(c, key=position.__getitem__) for c in nx.strongly_connected_components(g)),
        key=lambda c: position[c[0]],
    )
    cycles: list[list[str]] = []
    for tangle in (t for t in tangles if len(t) > 1):
        found = _tangle_cycles(_numbered(g, tangle), budget=max(1, limit - len(cycles)))
        cycles.extend([tangle[i] for i in c] for c in found)
    return cycles


def _tangle_cycles(tangle: nx.DiGraph, budget: int) -> list[tuple[int, ...]]:
    """Up to ``budget`` distinct cycles of one tangle, shortest first.

    Johnson's enumeration alone finds every cycle of a small tangle, but in a dense one its
    first finds are long; the shortest cycle through each of the first steps keeps the report
    readable there.
    """
    found = {_rotate_to_earliest(c) for c in islice(nx.simple_cycles(tangle), budget)}
    for node in islice(tangle, budget):
        found.add(_rotate_to_earliest(_shortest_cycle_through(tangle, node)))
    return sorted(found, key=lambda c: (len(c), c))[:budget]


def _shortest_cycle_through(tangle: nx.DiGraph, node: int) -> list[int]:
    distance = nx.single_source_shortest_path_length(tangle, node)
    closing = min(tangle.predecessors(node), key=lambda p: (distance[p], p))
    return nx.shortest_path(tangle, node, closing)


def _numbered(g: nx.DiGraph, tangle: list[str]) -> nx.DiGraph:
    """``tangle``'s subgraph with nodes renamed to their index in it, self-loops left out.

    networkx starts its cycle search at a node taken from a set; for strings that order
    changes from process to process, for small integers it does not.
    """
    index = {name: i for i, name in enumerate(tangle)}
    numbered = nx.DiGraph()
    numbered.add_nodes_from(range(len(tangle)))
    numbered.add_edges_from(
        (i, index[v]) for u, i in index.items() for v in g.successors(u) if v in index and v != u
    )
    return numbered


def _some_cycle(g: nx.DiGraph, position: Mapping[str, int]) -> list[str]:
    loops = sorted(nx.nodes_with_selfloops(g), key=position.__getitem__)
    return loops[:1] or _find_cycles(g, position, limit=1)[0]


def _rotate_to_earliest(cycle: list[int]) -> tuple[int, ...]:
    start = cycle.index(min(cycle))
    return (*cycle[start:], *cycle[:start])


def _arrows(cycle: list[str]) -> str:
    return " -> ".join([*cycle, cycle[0]])


# -- small helpers ---------------------------------------------------------------------------


def _positions(spec: PipelineSpec) -> dict[str, int]:
    """Each step name's first index in the spec."""
    position: dict[str, int] = {}
    for index, name in enumerate(spec.names):
        position.setdefault(name, index)
    return position


def _in_order(problems: list[Problem], position: Mapping[str, int]) -> list[Problem]:
    """By the step a problem concerns (its field's index, else its earliest step), then code.

    The sort is stable, so problems of one step and code keep the order the checks found them.
    """

    def key(problem: Problem) -> tuple[int, str]:
        match = _FIELD_STEP_INDEX.match(problem.field)
        if match:
            return int(match[1]), problem.code
        known = [position[s] for s in problem.steps if s in position]
        return min(known, default=-1), problem.code

    return sorted(problems, key=key)


def _about(step: StepSpec, code: str, message: str, field: str) -> Problem:
    """A problem of one step alone."""
    return Problem(code, message, steps=(step.name,), field=field)


def _number(value: float) -> str:
    """16.0 -> '16', 0.5 -> '0.5': how a person writes a quantity."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
