// The run's results summary, pure: which steps' `metrics` outputs to show, and their scalar
// values as rows. A metrics file is whatever JSON a step wrote; only numbers, strings and
// booleans are shown (nested objects one level down, as `outer.inner`).
import type { PipelineSpec } from "../api/types";

export const METRICS_OUTPUT = "metrics";
const MAX_VALUES = 24;

export interface ResultValue {
  key: string;
  value: string;
}

/** The final steps (nothing depends on them) that declare a `metrics` output, in spec order. */
export function metricsSteps(spec: PipelineSpec): string[] {
  const upstream = new Set<string>();
  for (const step of spec.steps) {
    for (const dep of step.depends_on ?? []) upstream.add(dep);
    for (const ref of Object.values(step.inputs ?? {})) if (ref) upstream.add(ref.split(".")[0]!);
  }
  return spec.steps.filter((s) => !upstream.has(s.name) && (s.outputs ?? []).includes(METRICS_OUTPUT)).map((s) => s.name);
}

/** The scalar values of a metrics document, at most `limit`, keys in the document's order. */
export function scalarValues(doc: unknown, limit = MAX_VALUES): ResultValue[] {
  const out: ResultValue[] = [];
  const visit = (value: unknown, key: string, depth: number) => {
    if (out.length >= limit) return;
    const text = scalarText(value);
    if (text !== null) {
      out.push({ key, value: text });
    } else if (depth < 2 && typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) visit(v, key ? `${key}.${k}` : k, depth + 1);
    }
  };
  visit(doc, "", 0);
  return out;
}

function scalarText(value: unknown): string | null {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  if (typeof value === "string") return value.length > 80 ? `${value.slice(0, 79)}…` : value;
  if (typeof value === "boolean") return value ? "true" : "false";
  return null;
}
