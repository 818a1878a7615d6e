// The results of a run: the scalar values of the `metrics` output of its final steps, once
// those steps have succeeded. Values are shown as text.
import { useApi } from "../api/useApi";
import { api } from "../api/client";
import type { RunDetail, StepRun } from "../api/types";
import { METRICS_OUTPUT, scalarValues } from "./results";

interface Props {
  run: RunDetail;
  steps: readonly string[];
  stepRuns: ReadonlyMap<string, StepRun>;
}

export function RunResults({ run, steps, stepRuns }: Props) {
  const done = steps.filter((s) => stepRuns.get(s)?.status === "succeeded");
  if (done.length === 0) return null;
  return (
    <section className="run-results" data-testid="run-results" aria-label="Results">
      <h2>Results</h2>
      <div className="run-results-steps">
        {done.map((step) => (
          <StepMetrics key={`${step}:${stepRuns.get(step)?.attempt}`} runId={run.id} step={step} />
        ))}
      </div>
    </section>
  );
}

function StepMetrics({ runId, step }: { runId: number; step: string }) {
  const metrics = useApi((signal) => api.artifact(runId, step, METRICS_OUTPUT, signal), [runId, step]);
  if (metrics.data === undefined) return null; // loading, or no readable metrics: nothing to show
  const values = scalarValues(metrics.data);
  if (values.length === 0) return null;
  return (
    <figure className="run-result" data-testid={`results-${step}`}>
      <figcaption>{step}</figcaption>
      <dl>
        {values.map((v) => (
          <div key={v.key} data-testid={`result-${step}-${v.key}`}>
            <dt>{v.key || METRICS_OUTPUT}</dt>
            <dd>{v.value}</dd>
          </div>
        ))}
      </dl>
    </figure>
  );
}
