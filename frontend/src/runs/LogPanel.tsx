// The log of one attempt of a step, streamed by polling with next_offset until the server says
// it is complete. Mount it with key={`${step}:${attempt}`} so another log starts from offset 0.
// A step that retried lets the reader pick an earlier attempt (`onPickAttempt`).
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, errorMessage, isAbort } from "../api/client";
import type { StepRunStatus } from "../api/types";
import { STEP_FINAL } from "../api/types";
import { attemptChoices } from "./attempts";

interface Props {
  runId: number;
  step: string;
  /** The status of the step run (its latest attempt). */
  status: StepRunStatus | undefined;
  /** The step run's latest attempt. */
  latestAttempt: number;
  /** The attempt whose log is shown. */
  attempt: number;
  onPickAttempt: (attempt: number) => void;
}

const RUNNING_POLL_MS = 1000;
const IDLE_POLL_MS = 3000;
/** Keep the browser responsive on huge logs: show the tail. */
const MAX_CHARS = 500_000;

export function LogPanel({ runId, step, status, latestAttempt, attempt, onPickAttempt }: Props) {
  const [text, setText] = useState("");
  const [isTrimmed, setIsTrimmed] = useState(false);
  const [isComplete, setIsComplete] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const offsetRef = useRef(0);
  // An earlier attempt has ended: its log no longer grows.
  const isOlder = attempt < latestAttempt;
  const statusRef = useRef(status);
  statusRef.current = isOlder ? "failed" : status;
  const isFinal = isOlder || (status !== undefined && STEP_FINAL.has(status));
  // A complete log of a final step will not grow; a retried step (failed -> queued) will.
  const shouldPoll = !(isComplete && isFinal);

  useEffect(() => {
    if (!shouldPoll) return;
    const controller = new AbortController();
    let timer: number | undefined;
    const poll = async () => {
      try {
        const chunk = await api.stepLog(runId, step, offsetRef.current, controller.signal, attempt);
        if (controller.signal.aborted) return;
        offsetRef.current = chunk.next_offset;
        if (chunk.text) {
          setText((held) => {
            const joined = held + chunk.text;
            if (joined.length <= MAX_CHARS) return joined;
            setIsTrimmed(true);
            return joined.slice(joined.length - MAX_CHARS);
          });
        }
        setError(null);
        setIsComplete(chunk.is_complete);
        const current = statusRef.current;
        if (chunk.is_complete && current !== undefined && STEP_FINAL.has(current)) return;
      } catch (err) {
        if (controller.signal.aborted || isAbort(err)) return;
        setError(errorMessage(err));
      }
      timer = window.setTimeout(poll, statusRef.current === "running" ? RUNNING_POLL_MS : IDLE_POLL_MS);
    };
    void poll();
    return () => {
      controller.abort();
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [runId, step, attempt, shouldPoll]);

  // Follow the end of the log unless the reader scrolled up.
  const preRef = useRef<HTMLPreElement>(null);
  const stickRef = useRef(true);
  useLayoutEffect(() => {
    const pre = preRef.current;
    if (pre && stickRef.current) pre.scrollTop = pre.scrollHeight;
  }, [text]);
  const onScroll = () => {
    const pre = preRef.current;
    if (pre) stickRef.current = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  };

  const choices = attemptChoices(latestAttempt);
  const state = isComplete && isFinal ? "complete" : !isOlder && status === "running" ? "streaming" : "waiting";
  return (
    <section className="log-panel" data-testid="log-panel" data-step={step} data-attempt={attempt} data-state={state}>
      <header className="log-panel-head">
        <h3>Log</h3>
        {choices.length > 0 && (
          <label className="log-attempt">
            <select
              value={attempt}
              onChange={(e) => onPickAttempt(Number(e.target.value))}
              aria-label="Attempt whose log is shown"
              data-testid="log-attempt"
            >
              {choices.map((c) => (
                <option key={c.attempt} value={c.attempt}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="muted" data-testid="log-state">
          {state === "complete" ? "complete" : state === "streaming" ? "streaming…" : "waiting for output…"}
        </span>
      </header>
      {error && (
        <p className="log-error" role="status">
          {error}
        </p>
      )}
      <pre ref={preRef} className="log-text" data-testid="log-text" onScroll={onScroll} tabIndex={0}>
        {isTrimmed && <span className="muted">… earlier output not shown …{"\n"}</span>}
        {text || <span className="muted">No output yet.</span>}
      </pre>
    </section>
  );
}
