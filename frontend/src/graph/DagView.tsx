// A read-only DAG: fitted to its box (again whenever the box changes size, so a narrow or
// resized window still shows every step), nodes neither draggable nor connectable, clicking
// selects.
import { Background, Controls, ReactFlow, type Edge, type ReactFlowInstance } from "@xyflow/react";
import { useCallback, useEffect, useRef, type RefObject } from "react";
import type { StepNode } from "./convert";
import { nodeTypes } from "../runs/StepNode";
import { useFlowNodes } from "./useFlowNodes";

interface Props {
  nodes: StepNode[];
  edges: Edge[];
  selected: string | null;
  onSelect: (step: string | null) => void;
  label: string;
}

const FIT_VIEW_OPTIONS = { padding: 0.08, maxZoom: 1.1 };

export function DagView({ nodes: derived, edges, selected, onSelect, label }: Props) {
  const { nodes, onNodesChange } = useFlowNodes(derived, selected, onSelect);
  const boxRef = useRef<HTMLDivElement>(null);
  const flowRef = useRef<ReactFlowInstance<StepNode, Edge> | null>(null);
  const onInit = useCallback((instance: ReactFlowInstance<StepNode, Edge>) => {
    flowRef.current = instance;
  }, []);
  useRefitOnResize(boxRef, flowRef);
  return (
    <div className="dag" data-testid="dag" aria-label={label} role="region" ref={boxRef}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onInit={onInit}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable
        edgesFocusable={false}
        deleteKeyCode={null}
        selectionKeyCode={null}
        multiSelectionKeyCode={null}
        fitView
        fitViewOptions={FIT_VIEW_OPTIONS}
        minZoom={0.2}
        maxZoom={2}
      >
        <Background gap={20} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

/** Fit the view again when the box is resized (once per animation frame at most). */
function useRefitOnResize(
  boxRef: RefObject<HTMLDivElement | null>,
  flowRef: RefObject<ReactFlowInstance<StepNode, Edge> | null>,
) {
  useEffect(() => {
    const box = boxRef.current;
    if (!box || typeof ResizeObserver === "undefined") return;
    let frame = 0;
    let last: { width: number; height: number } | null = null;
    const observer = new ResizeObserver(([entry]) => {
      if (!entry) return;
      const { width, height } = entry.contentRect;
      const isFirst = last === null;
      const changed = last !== null && (Math.abs(width - last.width) > 1 || Math.abs(height - last.height) > 1);
      last = { width, height };
      if (isFirst || !changed) return; // the first size is fitted by React Flow itself
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => void flowRef.current?.fitView(FIT_VIEW_OPTIONS));
    });
    observer.observe(box);
    return () => {
      observer.disconnect();
      cancelAnimationFrame(frame);
    };
  }, [boxRef, flowRef]);
}
