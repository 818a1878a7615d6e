// The run's timeline: a Gantt chart of its steps (layout in timeline.ts). Each row is a button
// that selects the step, so the chart is a way in for keyboards as well.
import { memo, useMemo } from "react";
import type { StepRun } from "../api/types";
import { formatDuration } from "../format";
import { useNow } from "../useNow";
import { statusLabel } from "./status";
import { timelineLayout } from "./timeline";

interface Props {
  steps: readonly string[];
  stepRuns: ReadonlyMap<string, StepRun>;
  isLive: boolean;
  selected: string | null;
  onSelect: (step: string) => void;
}

const pct = (fraction: number) => `${(fraction * 100).toFixed(3)}%`;

function TimelineView({ steps, stepRuns, isLive, selected, onSelect }: Props) {
  const now = useNow(isLive);
  const layout = useMemo(() => timelineLayout(steps, stepRuns, now), [steps, stepRuns, now]);
  return (
    <section className="timeline" data-testid="timeline" aria-label="Timeline of the steps">
      <div className="timeline-row timeline-scale" aria-hidden="true">
        <span className="timeline-name" />
        <div className="timeline-track">
          {layout.ticks.map((tick) => (
            <span key={tick.at} className="timeline-tick" style={{ left: pct(tick.at) }}>
              {tick.label}
            </span>
          ))}
        </div>
      </div>
      <ol className="timeline-rows">
        {layout.rows.map((row) => {
          const label = `${row.step}: ${statusLabel(row.status)}${row.durationS !== null ? `, ${formatDuration(row.durationS)}` : ""}${row.attempt > 1 ? `, attempt ${row.attempt} of ${row.maxAttempts}` : ""}`;
          return (
            <li key={row.step}>
              <button
                type="button"
                className={`timeline-row status-${row.status}${selected === row.step ? " is-selected" : ""}`}
                onClick={() => onSelect(row.step)}
                data-testid={`timeline-${row.step}`}
                data-status={row.status}
                aria-label={label}
                title={label}
              >
                <span className="timeline-name">{row.step}</span>
                <span className="timeline-track">
                  {row.wait && <span className="timeline-wait" style={{ left: pct(row.wait.left), width: pct(row.wait.width) }} />}
                  {row.bar && (
                    <span
                      className={`timeline-bar${row.bar.isOpen ? " is-open" : ""}`}
                      style={{ left: pct(row.bar.left), width: pct(row.bar.width) }}
                      data-testid={`timeline-bar-${row.step}`}
                    />
                  )}
                  {row.attemptMarker !== null && row.bar && (
                    <span className="timeline-attempt" style={{ left: pct(row.bar.left) }} data-testid={`timeline-attempt-${row.step}`}>
                      #{row.attemptMarker}
                    </span>
                  )}
                </span>
                <span className="timeline-duration">{row.durationS !== null ? formatDuration(row.durationS) : ""}</span>
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

export const Timeline = memo(TimelineView);
