// A read-only DAG: fitted to its box, nodes neither draggable nor connectable, clicking selects.
import { Background, Controls, ReactFlow, type Edge } from "@xyflow/react";
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
  return (
    <div className="dag" data-testid="dag" aria-label={label} role="region">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
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
