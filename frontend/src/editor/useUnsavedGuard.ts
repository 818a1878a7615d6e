// Unsaved changes are never lost silently: a navigation inside the app is held until the user
// says leave (react-router's blocker); closing or reloading the tab asks the browser's question.
import { useEffect, useRef } from "react";
import { useBlocker } from "react-router-dom";

export function useUnsavedGuard(isDirty: boolean) {
  const dirtyRef = useRef(isDirty);
  dirtyRef.current = isDirty;

  const blocker = useBlocker(
    ({ currentLocation, nextLocation }) => dirtyRef.current && currentLocation.pathname !== nextLocation.pathname,
  );

  useEffect(() => {
    if (!isDirty) return;
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [isDirty]);

  /** Let the next navigation through (after a save, before `isDirty` has caught up). */
  const allowLeaving = () => {
    dirtyRef.current = false;
  };
  return { blocker, allowLeaving };
}
