// Usage against quota per resource: held within the nominal quota, borrowed beyond it (hatched),
// the nominal quota and the borrowing limit marked.
import type { ResourceUsage } from "../api/types";
import { describeUsage, usageBar } from "./teamQueue";

export function UsageBars({ usage }: { usage: readonly ResourceUsage[] }) {
  return (
    <ul className="usage-bars" data-testid="usage-bars">
      {usage.map((u) => {
        const bar = usageBar(u);
        const words = describeUsage(u);
        return (
          <li key={u.resource} className="usage-row" data-testid={`usage-${u.resource}`} data-used={u.used}
              data-nominal={u.nominal ?? ""} data-borrowed={u.borrowed}>
            <span className="usage-label">{u.label}</span>
            <span className="usage-track" role="img" aria-label={`${u.label}: ${words}`}>
              <span className="usage-within" style={{ width: `${bar.withinPct}%` }} />
              <span className="usage-borrowed" style={{ left: `${bar.withinPct}%`, width: `${bar.borrowedPct}%` }}
                    data-testid={`usage-borrowed-${u.resource}`} />
              {bar.nominalPct !== null && (
                <span className="usage-mark usage-nominal" style={{ left: `${bar.nominalPct}%` }} title="nominal quota" />
              )}
              {bar.limitPct !== null && (
                <span className="usage-mark usage-limit" style={{ left: `${bar.limitPct}%` }} title="borrowing limit" />
              )}
            </span>
            <span className="usage-words">{words}</span>
          </li>
        );
      })}
    </ul>
  );
}
