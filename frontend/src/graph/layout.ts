// A layered left-to-right layout, for specs whose steps carry no positions. Pure.
import type { Position } from "../api/types";

export interface LayoutEdge {
  source: string;
  target: string;
}

export interface LayoutOptions {
  /** Horizontal distance between the left edges of two layers. */
  columnWidth?: number;
  /** Vertical distance between the top edges of two nodes in a layer. */
  rowHeight?: number;
}

export const DEFAULT_COLUMN_WIDTH = 250;
export const DEFAULT_ROW_HEIGHT = 120;

/**
 * Layer of each node: 0 for nodes without predecessors, else one more than the deepest
 * predecessor (longest path). Nodes on a cycle never become ready; they go, in input order,
 * into one layer after the last, so a broken spec still draws.
 */
export function topologicalLayers(ids: readonly string[], edges: readonly LayoutEdge[]): string[][] {
  const known = new Set(ids);
  const successors = new Map<string, string[]>(ids.map((id) => [id, []]));
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  const seen = new Set<string>();
  for (const { source, target } of edges) {
    const key = `${source}\u0000${target}`;
    if (!known.has(source) || !known.has(target) || seen.has(key)) continue;
    seen.add(key);
    successors.get(source)!.push(target);
    indegree.set(target, indegree.get(target)! + 1);
  }

  const layer = new Map<string, number>();
  let frontier = ids.filter((id) => indegree.get(id) === 0);
  for (const id of frontier) layer.set(id, 0);
  // Kahn's algorithm; a node's layer only grows while its predecessors are processed.
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const succ of successors.get(id)!) {
        layer.set(succ, Math.max(layer.get(succ) ?? 0, layer.get(id)! + 1));
        const left = indegree.get(succ)! - 1;
        indegree.set(succ, left);
        if (left === 0) next.push(succ);
      }
    }
    frontier = next;
  }

  const layers: string[][] = [];
  const stuck: string[] = [];
  for (const id of ids) {
    if (indegree.get(id)! > 0) {
      stuck.push(id);
      continue;
    }
    const index = layer.get(id)!;
    while (layers.length <= index) layers.push([]);
    layers[index]!.push(id);
  }
  if (stuck.length) layers.push(stuck);
  return layers;
}

/**
 * Position of every node: x by layer, y by index in the layer (in input order), each layer
 * centred vertically against the tallest one.
 */
export function layeredLayout(
  ids: readonly string[],
  edges: readonly LayoutEdge[],
  options: LayoutOptions = {},
): Record<string, Position> {
  const columnWidth = options.columnWidth ?? DEFAULT_COLUMN_WIDTH;
  const rowHeight = options.rowHeight ?? DEFAULT_ROW_HEIGHT;
  const layers = topologicalLayers(ids, edges);
  const tallest = Math.max(0, ...layers.map((l) => l.length));
  const positions: Record<string, Position> = {};
  layers.forEach((members, column) => {
    const offset = ((tallest - members.length) * rowHeight) / 2;
    members.forEach((id, row) => {
      positions[id] = { x: column * columnWidth, y: offset + row * rowHeight };
    });
  });
  return positions;
}
