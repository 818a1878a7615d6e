// The team's waiting step runs in admission order with why each waits, and what it runs.
import { Link } from "react-router-dom";
import type { ActiveStep, QueuedStep, StepRequest } from "../api/types";
import { formatAgo } from "../format";
import { StatusBadge } from "../runs/StatusBadge";
import { formatAmount } from "./teamQueue";

function describeRequest(r: StepRequest): string {
  const parts = [`${formatAmount("cpu", r.cpu)} cpu`, formatAmount("memory_mb", r.memory_mb)];
  if (r.gpu) parts.push(`${r.gpu} ${r.gpu_class ? `${r.gpu_class} ` : ""}gpu`);
  const each = parts.join(", ");
  return r.gang > 1 ? `${r.gang} pods × ${each}` : each;
}

function StepCell({ s }: { s: QueuedStep | ActiveStep }) {
  return (
    <>
      <Link to={`/runs/${s.run_id}`}>
        {s.pipeline} #{s.run_id}
      </Link>{" "}
      <span className="mono">{s.step}</span>
      {s.attempt > 1 && <span className="muted small"> (attempt {s.attempt})</span>}
    </>
  );
}

export function WaitingTable({ waiting, total }: { waiting: readonly QueuedStep[]; total: number }) {
  if (!waiting.length) return <p className="empty" data-testid="queue-empty">Nothing of this team is waiting.</p>;
  return (
    <table className="table" data-testid="queue-table">
      <caption className="sr-only">Waiting step runs in admission order, of {total} waiting in the cluster</caption>
      <thead>
        <tr>
          <th scope="col">Place</th>
          <th scope="col">Step</th>
          <th scope="col">Asks for</th>
          <th scope="col">Priority</th>
          <th scope="col">Queued</th>
          <th scope="col">Why it waits</th>
        </tr>
      </thead>
      <tbody>
        {waiting.map((w) => (
          <tr key={w.step_run_id} data-testid="queue-row" data-step-run={w.step_run_id} data-verdict={w.verdict}>
            <td>
              {w.position} <span className="muted small">of {total}</span>
            </td>
            <td>
              <StepCell s={w} />
            </td>
            <td>{describeRequest(w.request)}</td>
            <td>{w.priority}</td>
            <td>{formatAgo(w.queued_at)}</td>
            <td className={`queue-reason queue-${w.verdict}`} data-testid="queue-reason">
              {w.reason}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ActiveTable({ active }: { active: readonly ActiveStep[] }) {
  if (!active.length) return <p className="empty" data-testid="active-empty">Nothing of this team is running.</p>;
  return (
    <table className="table" data-testid="active-table">
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">State</th>
          <th scope="col">Node</th>
          <th scope="col">Since</th>
          <th scope="col">Holds</th>
        </tr>
      </thead>
      <tbody>
        {active.map((a) => (
          <tr key={a.step_run_id} data-testid="active-row" data-step-run={a.step_run_id} data-status={a.status}>
            <td>
              <StepCell s={a} />
            </td>
            <td>
              <StatusBadge status={a.status} />
              {a.preempting && <div className="small queue-preempting">{a.preempting}</div>}
            </td>
            <td className="mono">{a.node || "—"}</td>
            <td>{formatAgo(a.since)}</td>
            <td>{describeRequest(a.request)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
