import { applyNodeChanges, type Node, type NodeChange } from "@xyflow/react";
import { useCallback, useEffect, useRef, useState } from "react";

/**
 * Controlled React Flow nodes derived from data: keeps the sizes React Flow measured across
 * updates (new node objects would otherwise be measured again), takes the selection from
 * `selectedId` and reports a click or keyboard selection through `onSelect`.
 */
export function useFlowNodes<N extends Node>(
  derived: N[],
  selectedId: string | null,
  onSelect: (id: string | null) => void,
): { nodes: N[]; onNodesChange: (changes: NodeChange<N>[]) => void } {
  const [nodes, setNodes] = useState<N[]>(() => derived.map((n) => ({ ...n, selected: n.id === selectedId })));
  const selectedRef = useRef(selectedId);
  selectedRef.current = selectedId;
  const onSelectRef = useRef(onSelect);
  onSelectRef.current = onSelect;

  useEffect(() => {
    setNodes((prev) => {
      const measured = new Map(prev.map((n) => [n.id, n.measured]));
      return derived.map((n) => ({ ...n, measured: measured.get(n.id) ?? n.measured, selected: n.id === selectedId }));
    });
  }, [derived, selectedId]);

  const onNodesChange = useCallback((changes: NodeChange<N>[]) => {
    const selections = changes.filter((c) => c.type === "select");
    if (selections.length) {
      const picked = selections.find((c) => c.selected);
      if (picked) {
        if (picked.id !== selectedRef.current) onSelectRef.current(picked.id);
      } else if (selections.some((c) => c.id === selectedRef.current)) {
        onSelectRef.current(null);
      }
    }
    const rest = changes.filter((c) => c.type !== "select");
    if (rest.length) setNodes((ns) => applyNodeChanges(rest, ns));
  }, []);

  return { nodes, onNodesChange };
}
