// The editor's view of a spec: one node per step (id = step name) with a handle per input and
// output, one edge per wired input and per `depends_on`. And back: nodes and edges -> spec.
// Pure: no React, no fetch.
import type { Edge, Node } from "@xyflow/react";
import type { PipelineSpec, Problem, StepSpec } from "../api/types";
import { groupProblems, parseInputRef } from "./convert";
import { ANY_HANDLE, inHandle, outHandle, type EdgeRef } from "./edit";
import { layeredLayout } from "./layout";

export const EDITOR_NODE_TYPE = "editorStep";

export interface EditorNodeData extends Record<string, unknown> {
  step: StepSpec;
  problems?: Problem[];
  isReadOnly?: boolean;
}

export type EditorNode = Node<EditorNodeData, typeof EDITOR_NODE_TYPE>;

export interface EditorEdgeData extends Record<string, unknown> {
  ref: EdgeRef;
  /** The producer does not declare the output this input names. */
  isBroken?: boolean;
}

export type EditorEdge = Edge<EditorEdgeData>;

export function inputEdgeId(target: string, input: string): string {
  return `in:${target}:${input}`;
}

export function dependencyEdgeId(source: string, target: string): string {
  return `dep:${source}->${target}`;
}

export function editorEdges(steps: readonly StepSpec[]): EditorEdge[] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const edges: EditorEdge[] = [];
  for (const step of steps) {
    for (const [input, ref] of Object.entries(step.inputs ?? {})) {
      if (!ref) continue;
      const { producer, output } = parseInputRef(ref);
      const from = byName.get(producer);
      if (!from || producer === step.name) continue;
      const isBroken = !(from.outputs ?? []).includes(output);
      edges.push({
        id: inputEdgeId(step.name, input),
        source: producer,
        sourceHandle: outHandle(isBroken ? ANY_HANDLE : output),
        target: step.name,
        targetHandle: inHandle(input),
        data: { ref: { kind: "input", target: step.name, input }, isBroken },
        ...(isBroken ? { className: "edge-broken" } : {}),
      });
    }
    for (const dep of step.depends_on ?? []) {
      if (!byName.has(dep) || dep === step.name) continue;
      edges.push({
        id: dependencyEdgeId(dep, step.name),
        source: dep,
        sourceHandle: outHandle(ANY_HANDLE),
        target: step.name,
        targetHandle: inHandle(ANY_HANDLE),
        data: { ref: { kind: "dependency", source: dep, target: step.name } },
        className: "edge-dependency",
      });
    }
  }
  return edges;
}

/**
 * Nodes for the steps. `previous` (the last result) lets a step whose spec and problems did not
 * change keep its node data object, so its memoised node does not render again.
 */
export function editorNodes(
  spec: PipelineSpec,
  problems: readonly Problem[] = [],
  options: { isReadOnly?: boolean; previous?: ReadonlyMap<string, EditorNodeData> } = {},
): EditorNode[] {
  const byStep = groupProblems(problems);
  const needsLayout = spec.steps.length > 1 && spec.steps.every((s) => !s.position || (s.position.x === 0 && s.position.y === 0));
  const laidOut = needsLayout ? layeredLayout(spec.steps.map((s) => s.name), editorEdges(spec.steps)) : {};
  return spec.steps.map((step): EditorNode => {
    const stepProblems = byStep.get(step.name);
    const old = options.previous?.get(step.name);
    const isSame =
      old && old.step === step && old.isReadOnly === options.isReadOnly && sameProblems(old.problems, stepProblems);
    const data: EditorNodeData = isSame
      ? old
      : { step, ...(stepProblems ? { problems: stepProblems } : {}), ...(options.isReadOnly ? { isReadOnly: true } : {}) };
    const position = laidOut[step.name] ?? step.position ?? { x: 0, y: 0 };
    return { id: step.name, type: EDITOR_NODE_TYPE, position: { x: position.x, y: position.y }, data };
  });
}

function sameProblems(a: readonly Problem[] | undefined, b: readonly Problem[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((p, i) => p.code === b[i]!.code && p.message === b[i]!.message && p.severity === b[i]!.severity);
}

/** The spec that nodes and edges draw: steps from the nodes (with their positions), wiring from the edges. */
export function flowToSpec(nodes: readonly Pick<EditorNode, "id" | "position" | "data">[], edges: readonly EditorEdge[]): PipelineSpec {
  const inputs = new Map<string, Record<string, string>>();
  const deps = new Map<string, string[]>();
  for (const edge of edges) {
    const ref = edge.data?.ref;
    if (ref?.kind === "dependency") {
      deps.set(edge.target, [...(deps.get(edge.target) ?? []), edge.source]);
    } else if (ref?.kind === "input") {
      const output = edge.sourceHandle?.startsWith("out:") ? edge.sourceHandle.slice(4) : "";
      // A broken edge (the producer lacks the output) keeps the reference the step had.
      const original = nodes.find((n) => n.id === edge.target)?.data.step.inputs?.[ref.input];
      const wired = output && output !== ANY_HANDLE ? `${edge.source}.${output}` : original;
      if (wired) inputs.set(edge.target, { ...inputs.get(edge.target), [ref.input]: wired });
    }
  }
  return {
    steps: nodes.map((node) => {
      const step = node.data.step;
      const wired = inputs.get(node.id) ?? {};
      // Declared inputs keep their order; an input with no edge is unwired, unless it names a
      // step that is not drawn (kept as it was, for the server to report).
      const stepInputs = Object.fromEntries(
        Object.entries(step.inputs ?? {}).map(([k, ref]) => [k, wired[k] ?? (isDrawnRef(ref, nodes) ? "" : ref)]),
      );
      for (const [k, ref] of Object.entries(wired)) stepInputs[k] = ref;
      const drawnDeps = deps.get(node.id) ?? [];
      const keptDeps = (step.depends_on ?? []).filter((d) => !nodes.some((n) => n.id === d));
      return {
        ...step,
        name: node.id,
        inputs: stepInputs,
        depends_on: [...drawnDeps, ...keptDeps],
        position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
      };
    }),
  };
}

function isDrawnRef(ref: string, nodes: readonly Pick<EditorNode, "id">[]): boolean {
  if (!ref) return true;
  const { producer } = parseInputRef(ref);
  return nodes.some((n) => n.id === producer);
}
