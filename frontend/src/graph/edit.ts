// Edits of a pipeline spec, as the editor makes them. Pure: each returns a new spec and leaves
// the steps it did not touch as they were (same objects), so memoised nodes stay put.
import type { PipelineSpec, Position, Resources, StepSpec } from "../api/types";
import { parseInputRef } from "./convert";
import { describeLoop, wouldCloseLoop } from "./cycles";

export const DEFAULT_RESOURCES: Resources = { cpu: 1, memory_mb: 1024, gpu: 0, gpu_class: "" };

/** Every field present, so the side panel can show and edit it. */
export function normalizeStep(step: StepSpec): StepSpec {
  return {
    ...step,
    env: step.env ?? {},
    resources: { ...DEFAULT_RESOURCES, ...step.resources, gpu_class: step.resources?.gpu_class ?? "" },
    inputs: step.inputs ?? {},
    outputs: step.outputs ?? [],
    depends_on: step.depends_on ?? [],
    retries: step.retries ?? 0,
    timeout_s: step.timeout_s ?? 3600,
    estimate_s: step.estimate_s ?? null,
    position: step.position ?? { x: 0, y: 0 },
  };
}

export function normalizeSpec(spec: PipelineSpec | null | undefined): PipelineSpec {
  return { steps: (spec?.steps ?? []).map(normalizeStep) };
}

/** `base` if free, else `base-2`, `base-3`, ... */
export function uniqueName(base: string, taken: ReadonlySet<string> | readonly string[], sep = "-"): string {
  const used = taken instanceof Set ? taken : new Set(taken as readonly string[]);
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) {
    const name = `${base}${sep}${i}`;
    if (!used.has(name)) return name;
  }
}

function names(spec: PipelineSpec): Set<string> {
  return new Set(spec.steps.map((s) => s.name));
}

export function findStep(spec: PipelineSpec, name: string): StepSpec | undefined {
  return spec.steps.find((s) => s.name === name);
}

/** Add `step` under a free name based on its own; returns the new spec and the name it got. */
export function addStep(spec: PipelineSpec, step: StepSpec, position: Position): { spec: PipelineSpec; name: string } {
  const name = uniqueName(step.name, names(spec));
  const added = normalizeStep({ ...step, name, position: { x: Math.round(position.x), y: Math.round(position.y) } });
  return { spec: { ...spec, steps: [...spec.steps, added] }, name };
}

/** Replace the fields of one step (not its name: see renameStep). */
export function updateStep(spec: PipelineSpec, name: string, patch: Partial<StepSpec>): PipelineSpec {
  return { ...spec, steps: spec.steps.map((s) => (s.name === name ? { ...s, ...patch, name } : s)) };
}

function mapRefs(step: StepSpec, rewrite: (ref: string) => string, keepDep: (dep: string) => string | null): StepSpec {
  let changed = false;
  let inputs = step.inputs;
  if (step.inputs) {
    const entries = Object.entries(step.inputs).map(([k, ref]) => {
      const next = rewrite(ref);
      if (next !== ref) changed = true;
      return [k, next] as const;
    });
    if (changed) inputs = Object.fromEntries(entries);
  }
  let depends_on = step.depends_on;
  if (step.depends_on) {
    const next = step.depends_on.map(keepDep).filter((d): d is string => d !== null);
    if (next.length !== step.depends_on.length || next.some((d, i) => d !== step.depends_on![i])) {
      depends_on = next;
      changed = true;
    }
  }
  return changed ? { ...step, inputs, depends_on } : step;
}

export type EditResult = { spec: PipelineSpec; error: null } | { spec: null; error: string };

/** Rename a step and rewire every input and `depends_on` that names it. */
export function renameStep(spec: PipelineSpec, from: string, to: string): EditResult {
  if (from === to) return { spec, error: null };
  if (!to) return { spec: null, error: "a step needs a name" };
  if (names(spec).has(to)) return { spec: null, error: `there is already a step named ${to}` };
  const rewrite = (ref: string) => {
    const { producer, output } = parseInputRef(ref);
    return producer === from ? `${to}.${output}` : ref;
  };
  const steps = spec.steps.map((s) => {
    const renamed = s.name === from ? { ...s, name: to } : s;
    return mapRefs(renamed, rewrite, (d) => (d === from ? to : d));
  });
  return { spec: { ...spec, steps }, error: null };
}

/** Rename an output of `step` and rewire the inputs that consume it. */
export function renameOutput(spec: PipelineSpec, step: string, index: number, to: string): PipelineSpec {
  const owner = findStep(spec, step);
  const from = owner?.outputs?.[index];
  if (!owner || from === undefined) return spec;
  const outputs = owner.outputs!.map((o, i) => (i === index ? to : o));
  const isStillDeclared = outputs.includes(from);
  const rewrite = (ref: string) => (!isStillDeclared && ref === `${step}.${from}` ? `${step}.${to}` : ref);
  const steps = spec.steps.map((s) => {
    const withOutputs = s.name === step ? { ...s, outputs } : s;
    return mapRefs(withOutputs, rewrite, (d) => d);
  });
  return { ...spec, steps };
}

/**
 * Remove steps. Inputs they fed stay declared but unwired (empty), so the server says what the
 * consumer now lacks; `depends_on` entries naming them go.
 */
export function removeSteps(spec: PipelineSpec, removed: ReadonlySet<string>): PipelineSpec {
  if (removed.size === 0) return spec;
  const rewrite = (ref: string) => (ref && removed.has(parseInputRef(ref).producer) ? "" : ref);
  const steps = spec.steps
    .filter((s) => !removed.has(s.name))
    .map((s) => mapRefs(s, rewrite, (d) => (removed.has(d) ? null : d)));
  return { ...spec, steps };
}

/** What an edge of the editor stands for (see editorFlow.ts). */
export type EdgeRef = { kind: "input"; target: string; input: string } | { kind: "dependency"; source: string; target: string };

/** Remove the wiring an edge stands for: an input becomes unwired, a dependency goes. */
export function removeEdges(spec: PipelineSpec, edges: readonly EdgeRef[]): PipelineSpec {
  let out = spec;
  for (const edge of edges) {
    const step = findStep(out, edge.target);
    if (!step) continue;
    if (edge.kind === "input") {
      if (!step.inputs || !(edge.input in step.inputs)) continue;
      out = updateStep(out, step.name, { inputs: { ...step.inputs, [edge.input]: "" } });
    } else {
      out = updateStep(out, step.name, { depends_on: (step.depends_on ?? []).filter((d) => d !== edge.source) });
    }
  }
  return out;
}

export const ANY_HANDLE = "*";

/** Handle ids: `out:<output>` / `in:<input>`; `out:*` ("after") and `in:*` ("new input") are generic. */
export function outHandle(output: string): string {
  return `out:${output}`;
}

export function inHandle(input: string): string {
  return `in:${input}`;
}

function handleName(handle: string | null | undefined, prefix: "in:" | "out:"): string {
  return handle && handle.startsWith(prefix) ? handle.slice(prefix.length) : ANY_HANDLE;
}

export interface ConnectRequest {
  source: string;
  sourceHandle?: string | null;
  target: string;
  targetHandle?: string | null;
}

/**
 * Wire an output to an input: `inputs[local] = "source.output"`. Dropped on the step rather
 * than on one of its inputs, the input is named after the output (an unwired input of that
 * name is reused). From the generic "after" handle it adds a `depends_on`. A connection that
 * would close a loop is refused, naming the loop.
 */
export function connect(spec: PipelineSpec, request: ConnectRequest): EditResult {
  const { source, target } = request;
  const producer = findStep(spec, source);
  const consumer = findStep(spec, target);
  if (!producer || !consumer) return { spec: null, error: "both ends must be steps" };
  const loop = wouldCloseLoop(spec.steps, source, target);
  if (loop) return { spec: null, error: describeLoop(loop) };
  const output = handleName(request.sourceHandle, "out:");
  if (output === ANY_HANDLE) {
    const deps = consumer.depends_on ?? [];
    if (deps.includes(source)) return { spec, error: null };
    return { spec: updateStep(spec, target, { depends_on: [...deps, source] }), error: null };
  }
  const ref = `${source}.${output}`;
  const inputs = consumer.inputs ?? {};
  let local = handleName(request.targetHandle, "in:");
  if (local === ANY_HANDLE) {
    if (Object.values(inputs).includes(ref)) return { spec, error: null };
    local = inputs[output] === "" || !(output in inputs) ? output : uniqueName(output, Object.keys(inputs), "_");
  }
  if (inputs[local] === ref) return { spec, error: null };
  return { spec: updateStep(spec, target, { inputs: { ...inputs, [local]: ref } }), error: null };
}

/** Copies of the named steps, in spec order, for the clipboard. */
export function copySteps(spec: PipelineSpec, selected: ReadonlySet<string>): StepSpec[] {
  return structuredClone(spec.steps.filter((s) => selected.has(s.name)));
}

/**
 * Paste copies under new names (`train` -> `train-copy`, then `train-copy-2`), shifted by
 * `offset`. Wiring between pasted steps follows the copies; wiring to other steps is kept.
 */
export function pasteSteps(
  spec: PipelineSpec,
  clipboard: readonly StepSpec[],
  offset: Position = { x: 40, y: 40 },
): { spec: PipelineSpec; names: string[] } {
  const taken = names(spec);
  const renamed = new Map<string, string>();
  for (const step of clipboard) {
    const name = uniqueName(`${step.name}-copy`, taken);
    taken.add(name);
    renamed.set(step.name, name);
  }
  const rewrite = (ref: string) => {
    const { producer, output } = parseInputRef(ref);
    const to = renamed.get(producer);
    return to ? `${to}.${output}` : ref;
  };
  const pasted = clipboard.map((step) => {
    const p = step.position ?? { x: 0, y: 0 };
    const copy = { ...structuredClone(step), name: renamed.get(step.name)!, position: { x: p.x + offset.x, y: p.y + offset.y } };
    return normalizeStep(mapRefs(copy, rewrite, (d) => renamed.get(d) ?? d));
  });
  return { spec: { ...spec, steps: [...spec.steps, ...pasted] }, names: pasted.map((s) => s.name) };
}

/** Positions for every step from `layout`, leaving steps it does not name in place. */
export function placeSteps(spec: PipelineSpec, positions: Readonly<Record<string, Position>>): PipelineSpec {
  const steps = spec.steps.map((s) => {
    const p = positions[s.name];
    if (!p) return s;
    const rounded = { x: Math.round(p.x), y: Math.round(p.y) };
    return s.position && s.position.x === rounded.x && s.position.y === rounded.y ? s : { ...s, position: rounded };
  });
  // Nothing moved (a drag that came back where it started): the same spec, so no new edit.
  return steps.every((s, i) => s === spec.steps[i]) ? spec : { ...spec, steps };
}
