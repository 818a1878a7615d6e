// Ask the server what is wrong with the spec, a moment after the user stops editing. The answer
// for an older spec is dropped; a malformed spec (400) comes back as `error`.
import { useEffect, useState } from "react";
import { api, isAbort } from "../api/client";
import type { PipelineSpec, ValidationResult } from "../api/types";

export const VALIDATE_DELAY_MS = 350;

export interface Validation {
  result: ValidationResult | null;
  error: unknown;
  isChecking: boolean;
}

export function useValidation(spec: PipelineSpec): Validation {
  const [state, setState] = useState<Validation>({ result: null, error: null, isChecking: true });
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => (s.isChecking ? s : { ...s, isChecking: true }));
    const timer = window.setTimeout(() => {
      api.validate(spec, controller.signal).then(
        (result) => !controller.signal.aborted && setState({ result, error: null, isChecking: false }),
        (error: unknown) => !controller.signal.aborted && !isAbort(error) && setState({ result: null, error, isChecking: false }),
      );
    }, VALIDATE_DELAY_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [spec]);
  return state;
}
