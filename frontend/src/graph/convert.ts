// Spec <-> React Flow nodes and edges. Pure: no React, no fetch.
import type { Edge, Node } from "@xyflow/react";
import type { PipelineSpec, Position, Problem, StepRun, StepSpec } from "../api/types";
import { layeredLayout, type LayoutEdge } from "./layout";

export const STEP_NODE_TYPE = "step";

export interface StepNodeData extends Record<string, unknown> {
  step: StepSpec;
  /** The step's run, on a run's page. */
  stepRun?: StepRun;
  /** The server's problems naming this step. */
  problems?: Problem[];
}

export type StepNode = Node<StepNodeData, typeof STEP_NODE_TYPE>;

export interface StepEdgeData extends Record<string, unknown> {
  /** Outputs of the source consumed by the target; empty for a `depends_on`-only edge. */
  outputs: string[];
}

export type StepEdge = Edge<StepEdgeData>;

/** An input naming a producer that is not a step of the spec. */
export interface DanglingInput {
  step: string;
  input: string;
  ref: string;
}

export interface FlowGraph {
  nodes: StepNode[];
  edges: StepEdge[];
  dangling: DanglingInput[];
}

/** `"prepare.dataset"` -> `{producer: "prepare", output: "dataset"}`. */
export function parseInputRef(ref: string): { producer: string; output: string } {
  const dot = ref.indexOf(".");
  return dot < 0 ? { producer: ref, output: "" } : { producer: ref.slice(0, dot), output: ref.slice(dot + 1) };
}

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

/**
 * One edge per (producer, consumer) pair, from the consumer's `inputs` and `depends_on`, in spec
 * order. Inputs naming a missing step are returned as `dangling` (the server reports them too).
 */
export function specEdges(steps: readonly StepSpec[]): { edges: StepEdge[]; dangling: DanglingInput[] } {
  const names = new Set(steps.map((s) => s.name));
  const byId = new Map<string, StepEdge>();
  const dangling: DanglingInput[] = [];
  const add = (source: string, target: string, output: string | null) => {
    const id = edgeId(source, target);
    let edge = byId.get(id);
    if (!edge) {
      edge = { id, source, target, data: { outputs: [] } };
      byId.set(id, edge);
    }
    if (output && !edge.data!.outputs.includes(output)) edge.data!.outputs.push(output);
  };
  for (const step of steps) {
    for (const [input, ref] of Object.entries(step.inputs ?? {})) {
      const { producer, output } = parseInputRef(ref);
      if (!names.has(producer)) dangling.push({ step: step.name, input, ref });
      else add(producer, step.name, output || null);
    }
    for (const upstream of step.depends_on ?? []) {
      if (names.has(upstream)) add(upstream, step.name, null);
    }
  }
  const edges = [...byId.values()].map((edge) => {
    const outputs = edge.data!.outputs;
    return outputs.length ? { ...edge, label: outputs.join(", ") } : edge;
  });
  return { edges, dangling };
}

/** True when no step has a position, or every position is the origin: draw with the layout. */
export function needsLayout(steps: readonly StepSpec[]): boolean {
  return steps.every((s) => !s.position || (s.position.x === 0 && s.position.y === 0));
}

export interface ConvertOptions {
  problems?: readonly Problem[];
  stepRuns?: ReadonlyMap<string, StepRun>;
}

export function specToFlow(spec: PipelineSpec | null | undefined, options: ConvertOptions = {}): FlowGraph {
  const steps = spec?.steps ?? [];
  const { edges, dangling } = specEdges(steps);
  const laidOut = layeredLayout(
    steps.map((s) => s.name),
    edges as LayoutEdge[],
  );
  const useLayout = needsLayout(steps);
  const problemsByStep = groupProblems(options.problems ?? []);
  const nodes = steps.map((step): StepNode => {
    const position: Position = (!useLayout && step.position) || laidOut[step.name] || { x: 0, y: 0 };
    const data: StepNodeData = { step };
    const stepRun = options.stepRuns?.get(step.name);
    if (stepRun) data.stepRun = stepRun;
    const problems = problemsByStep.get(step.name);
    if (problems) data.problems = problems;
    return { id: step.name, type: STEP_NODE_TYPE, position: { x: position.x, y: position.y }, data };
  });
  return { nodes, edges, dangling };
}

export function groupProblems(problems: readonly Problem[]): Map<string, Problem[]> {
  const out = new Map<string, Problem[]>();
  for (const problem of problems) {
    for (const step of new Set(problem.steps)) {
      const list = out.get(step);
      if (list) list.push(problem);
      else out.set(step, [problem]);
    }
  }
  return out;
}

/** The spec with each step's position taken from the node of the same id (the editor saves this). */
export function withPositions(spec: PipelineSpec, nodes: readonly Pick<Node, "id" | "position">[]): PipelineSpec {
  const byId = new Map(nodes.map((n) => [n.id, n.position]));
  return {
    ...spec,
    steps: spec.steps.map((step) => {
      const p = byId.get(step.name);
      return p ? { ...step, position: { x: Math.round(p.x), y: Math.round(p.y) } } : step;
    }),
  };
}
