// The custom React Flow node for a step: on a run's page it shows the step's live state; on a
// pipeline's page its type, image and the server's problems.
import { Handle, Position, type NodeProps, type NodeTypes } from "@xyflow/react";
import { memo } from "react";
import type { StepRun } from "../api/types";
import { STEP_FINAL } from "../api/types";
import { formatDuration, secondsBetween } from "../format";
import type { StepNode as StepNodeType } from "../graph/convert";
import { STEP_NODE_TYPE } from "../graph/convert";
import { useNow } from "../useNow";
import { StatusBadge } from "./StatusBadge";

function StepTiming({ stepRun, name }: { stepRun: StepRun; name: string }) {
  const { status } = stepRun;
  const isWaiting = status === "queued" || status === "admitted";
  const now = useNow(status === "running" || isWaiting);
  let text: string | null = null;
  if (status === "running") {
    text = `running ${formatDuration(secondsBetween(stepRun.started_at, null, now))}`;
  } else if (isWaiting && stepRun.queued_at) {
    text = `waiting ${formatDuration(secondsBetween(stepRun.queued_at, null, now))}`;
  } else if ((STEP_FINAL.has(status) || status === "preempted") && stepRun.started_at && stepRun.finished_at) {
    text = `took ${formatDuration(secondsBetween(stepRun.started_at, stepRun.finished_at))}`;
  }
  if (text === null) return null;
  return (
    <span className="step-node-time" data-testid={`step-time-${name}`}>
      {text}
    </span>
  );
}

function StepNodeView({ data, selected }: NodeProps<StepNodeType>) {
  const { step, stepRun, problems } = data;
  const status = stepRun?.status;
  const errors = problems?.filter((p) => p.severity === "error").length ?? 0;
  const classes = [
    "step-node",
    status ? `status-${status}` : "status-none",
    selected ? "is-selected" : "",
    problems?.length ? (errors ? "has-errors" : "has-warnings") : "",
  ];
  return (
    <div
      className={classes.filter(Boolean).join(" ")}
      data-testid={`step-${step.name}`}
      data-status={status ?? "none"}
      title={step.name}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="step-node-head">
        <span className="step-node-name">{step.name}</span>
        <span className="step-node-type">{step.type}</span>
      </div>
      {stepRun ? (
        <div className="step-node-state">
          <StatusBadge status={stepRun.status} />
          <StepTiming stepRun={stepRun} name={step.name} />
          {stepRun.attempt > 1 && (
            <span className="step-node-attempt" data-testid={`step-attempt-${step.name}`}>
              attempt {stepRun.attempt}/{stepRun.max_attempts}
            </span>
          )}
        </div>
      ) : (
        <div className="step-node-image">{step.image}</div>
      )}
      {stepRun?.reason && (
        <p className="step-node-reason" data-testid={`step-reason-${step.name}`} title={stepRun.reason}>
          {stepRun.reason}
        </p>
      )}
      {problems && problems.length > 0 && (
        <ul className="step-node-problems" data-testid={`step-problems-${step.name}`}>
          {problems.slice(0, 2).map((p, i) => (
            <li key={i} className={`problem-${p.severity}`}>
              {p.message}
            </li>
          ))}
          {problems.length > 2 && <li>and {problems.length - 2} more</li>}
        </ul>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

export const StepNode = memo(StepNodeView);

/** Declared once, at module level: a new object per render would remount every node. */
export const nodeTypes: NodeTypes = { [STEP_NODE_TYPE]: StepNode };
