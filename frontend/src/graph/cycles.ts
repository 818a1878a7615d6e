// Would an edge close a loop? Pure: the editor refuses such a connection on the spot and names
// the loop; the server's validation stays the judge of the saved spec.
import type { StepSpec } from "../api/types";
import { parseInputRef } from "./convert";

/** producer -> consumers, from every input's producer and every `depends_on`, known steps only. */
export function downstreamMap(steps: readonly StepSpec[]): Map<string, string[]> {
  const names = new Set(steps.map((s) => s.name));
  const out = new Map<string, string[]>([...names].map((n) => [n, []]));
  const add = (from: string, to: string) => {
    if (!names.has(from) || !names.has(to)) return;
    const list = out.get(from)!;
    if (!list.includes(to)) list.push(to);
  };
  for (const step of steps) {
    for (const ref of Object.values(step.inputs ?? {})) add(parseInputRef(ref).producer, step.name);
    for (const up of step.depends_on ?? []) add(up, step.name);
  }
  return out;
}

/**
 * The loop an edge `source -> target` would close, as step names from `source` back to itself
 * (`["b", "a", "b"]`), the shortest one; null when the edge closes none. An edge from a step to
 * itself is the loop `[s, s]`.
 */
export function wouldCloseLoop(steps: readonly StepSpec[], source: string, target: string): string[] | null {
  if (source === target) return [source, source];
  const next = downstreamMap(steps);
  // Breadth first from target: the first time we reach source is along a shortest path.
  const parent = new Map<string, string | null>([[target, null]]);
  const queue = [target];
  while (queue.length) {
    const at = queue.shift()!;
    if (at === source) {
      const path: string[] = [];
      for (let n: string | null = at; n !== null; n = parent.get(n) ?? null) path.push(n);
      return [source, ...path.reverse()];
    }
    for (const succ of next.get(at) ?? []) {
      if (!parent.has(succ)) {
        parent.set(succ, at);
        queue.push(succ);
      }
    }
  }
  return null;
}

/**
 * For every step, the loop an edge `step -> target` would close (as `wouldCloseLoop` names it),
 * or null: one breadth-first walk from `target` instead of one per step, for lists that ask
 * about every possible producer at once (the step panel's input sources).
 */
export function loopsInto(steps: readonly StepSpec[], target: string): Map<string, string[] | null> {
  const next = downstreamMap(steps);
  const parent = new Map<string, string | null>([[target, null]]);
  const queue = [target];
  for (let i = 0; i < queue.length; i++) {
    for (const succ of next.get(queue[i]!) ?? []) {
      if (!parent.has(succ)) {
        parent.set(succ, queue[i]!);
        queue.push(succ);
      }
    }
  }
  const out = new Map<string, string[] | null>();
  for (const step of steps) {
    if (step.name === target) {
      out.set(step.name, [target, target]);
    } else if (parent.has(step.name)) {
      const path: string[] = [];
      for (let n: string | null = step.name; n !== null; n = parent.get(n) ?? null) path.push(n);
      out.set(step.name, [step.name, ...path.reverse()]);
    } else {
      out.set(step.name, null);
    }
  }
  return out;
}

/** `"would close a loop: a -> b -> a"`. */
export function describeLoop(loop: readonly string[]): string {
  return `would close a loop: ${loop.join(" -> ")}`;
}
