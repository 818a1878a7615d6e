// The editor's custom node: the step's name and type, a handle per input (left) and per output
// (right), a generic "needs" handle (drop an output here to create an input named after it) and
// an "after" handle (ordering without an artifact), and the server's problems as a badge.
import { Handle, Position, useUpdateNodeInternals, type NodeProps, type NodeTypes } from "@xyflow/react";
import { memo, useEffect, useRef } from "react";
import { ANY_HANDLE, inHandle, outHandle } from "../graph/edit";
import { EDITOR_NODE_TYPE, type EditorNode } from "../graph/editorFlow";
import { STEP_TYPE_LABEL } from "./templates";

function StepNodeView({ id, data, selected }: NodeProps<EditorNode>) {
  const { step, problems, isReadOnly } = data;
  const inputs = Object.entries(step.inputs ?? {});
  const outputs = step.outputs ?? [];
  const errors = problems?.filter((p) => p.severity === "error").length ?? 0;
  const warnings = (problems?.length ?? 0) - errors;
  const firstError = problems?.find((p) => p.severity === "error");
  const r = step.resources;

  // Handles come and go with inputs and outputs; React Flow must measure them again. Not on
  // mount: React Flow measures a new node itself, and 500 nodes each asking on mount cost
  // 500 store updates, each running every node's and edge's selectors (seconds on a big graph).
  const updateNodeInternals = useUpdateNodeInternals();
  const handleKey = `${inputs.map(([k]) => k).join("|")}/${outputs.join("|")}`;
  const measuredKey = useRef(handleKey);
  useEffect(() => {
    if (measuredKey.current === handleKey) return;
    measuredKey.current = handleKey;
    updateNodeInternals(id);
  }, [id, handleKey, updateNodeInternals]);

  const classes = ["editor-node", `type-${step.type}`, selected ? "is-selected" : "", errors ? "has-errors" : warnings ? "has-warnings" : ""];
  return (
    <div
      className={classes.filter(Boolean).join(" ")}
      data-testid={`step-${step.name}`}
      data-problems={problems?.length ?? 0}
      aria-label={`Step ${step.name}`}
    >
      <div className="editor-node-head">
        <span className="editor-node-name">{step.name}</span>
        {problems && problems.length > 0 && (
          <span
            className={`problem-badge ${errors ? "problem-error" : "problem-warning"}`}
            data-testid={`step-problems-${step.name}`}
            title={problems.map((p) => p.message).join("\n")}
          >
            {errors ? `✕ ${errors}` : `! ${warnings}`}
          </span>
        )}
      </div>
      <div className="editor-node-meta">
        <span>{STEP_TYPE_LABEL[step.type] ?? step.type}</span>
        {r && (
          <span className="muted">
            {r.cpu} cpu · {r.memory_mb} MB{r.gpu ? ` · ${r.gpu} gpu` : ""}
          </span>
        )}
      </div>
      <div className="editor-node-ports">
        <ul className="ports ports-in">
          {inputs.map(([name, ref]) => (
            <li key={name} className={ref ? "port" : "port port-unwired"} data-testid={`input-${step.name}-${name}`}>
              <Handle type="target" position={Position.Left} id={inHandle(name)} isConnectable={!isReadOnly} className="port-handle" />
              <span className="port-name">{name}</span>
            </li>
          ))}
          <li className="port port-any">
            <Handle type="target" position={Position.Left} id={inHandle(ANY_HANDLE)} isConnectable={!isReadOnly} className="port-handle" />
            <span className="port-name muted">needs</span>
          </li>
        </ul>
        <ul className="ports ports-out">
          {outputs.map((name) => (
            <li key={name} className="port" data-testid={`output-${step.name}-${name}`}>
              <span className="port-name">{name}</span>
              <Handle type="source" position={Position.Right} id={outHandle(name)} isConnectable={!isReadOnly} className="port-handle" />
            </li>
          ))}
          <li className="port port-any">
            <span className="port-name muted">after</span>
            <Handle type="source" position={Position.Right} id={outHandle(ANY_HANDLE)} isConnectable={!isReadOnly} className="port-handle" />
          </li>
        </ul>
      </div>
      {firstError && (
        <p className="editor-node-problem problem-error" data-testid={`step-problem-${step.name}`}>
          {firstError.message}
        </p>
      )}
    </div>
  );
}

export const StepNode = memo(StepNodeView);

/** Declared once, at module level: a new object per render would remount every node. */
export const editorNodeTypes: NodeTypes = { [EDITOR_NODE_TYPE]: StepNode };
