// Keyboard shortcuts of the editor: Ctrl/Cmd+S save, +Z undo, +Shift+Z or +Y redo, +C copy,
// +V paste. Inside a text field the browser's own undo, copy and paste win; save always works.
import { useEffect, useRef } from "react";

export interface Shortcuts {
  save?: () => void;
  undo?: () => void;
  redo?: () => void;
  copy?: () => void;
  paste?: () => void;
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function useEditorShortcuts(shortcuts: Shortcuts) {
  const ref = useRef(shortcuts);
  ref.current = shortcuts;
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      const s = ref.current;
      if (key === "s") {
        event.preventDefault();
        s.save?.();
        return;
      }
      if (isEditable(event.target)) return;
      const action =
        key === "z" ? (event.shiftKey ? s.redo : s.undo) : key === "y" ? s.redo : key === "c" ? s.copy : key === "v" ? s.paste : undefined;
      if (!action) return;
      if (key === "c" && window.getSelection()?.toString()) return; // copying text the user selected
      event.preventDefault();
      action();
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, []);
}
