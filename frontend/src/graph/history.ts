// Undo and redo over spec snapshots. Pure reducer; the editor keeps one of these.
import type { PipelineSpec } from "../api/types";

export const HISTORY_LIMIT = 200;

export interface History {
  past: PipelineSpec[];
  present: PipelineSpec;
  future: PipelineSpec[];
  /** The spec as last saved or loaded: the editor has unsaved changes when present differs. */
  saved: PipelineSpec;
  /** Edits with the same key in a row (typing in one field) make one step of history. */
  lastKey: string | null;
}

export type HistoryAction =
  | { type: "edit"; spec: PipelineSpec; key?: string }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "reset"; spec: PipelineSpec }
  | { type: "saved"; spec?: PipelineSpec };

export function initialHistory(spec: PipelineSpec): History {
  return { past: [], present: spec, future: [], saved: spec, lastKey: null };
}

export function historyReducer(state: History, action: HistoryAction): History {
  switch (action.type) {
    case "edit": {
      if (action.spec === state.present) return state;
      const key = action.key ?? null;
      if (key !== null && key === state.lastKey) return { ...state, present: action.spec, future: [] };
      const past = [...state.past, state.present].slice(-HISTORY_LIMIT);
      return { ...state, past, present: action.spec, future: [], lastKey: key };
    }
    case "undo": {
      const previous = state.past[state.past.length - 1];
      if (!previous) return state;
      return { ...state, past: state.past.slice(0, -1), present: previous, future: [state.present, ...state.future], lastKey: null };
    }
    case "redo": {
      const [next, ...future] = state.future;
      if (!next) return state;
      return { ...state, past: [...state.past, state.present], present: next, future, lastKey: null };
    }
    case "reset":
      return initialHistory(action.spec);
    case "saved": {
      const spec = action.spec ?? state.present;
      return { ...state, present: spec, saved: spec, lastKey: null };
    }
  }
}

export function isDirty(state: History): boolean {
  return state.present !== state.saved;
}
