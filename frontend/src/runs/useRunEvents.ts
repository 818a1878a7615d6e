// Live state of one run over ws/runs/<id>/: snapshot, then events in order; on a close or a
// missed event, reconnect with ?after=<last applied seq> so the server replays what we lack.
// Once the run is final the socket is closed ("Finished"); if the run becomes live again (a
// retry from failure) it reconnects from the last event applied.
import { useCallback, useEffect, useRef, useState } from "react";
import type { RunDetail } from "../api/types";
import {
  backoffDelay,
  initialRunEventsState,
  isRunFinal,
  reduceRunEvents,
  runSocketUrl,
  type RunEventsAction,
  type RunEventsState,
} from "./runEvents";

/** connecting: first try; open: live; reconnecting: waiting to retry; closed: run over, socket shut. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface RunEvents {
  run: RunDetail | null;
  lastSeq: number;
  connection: ConnectionState;
  /** Failed tries since the last open socket. */
  failures: number;
  /** Apply a run detail fetched over HTTP (a snapshot at its last_seq). */
  applyRun: (run: RunDetail) => void;
}

export function useRunEvents(runId: number | string | undefined): RunEvents {
  // The reducer's state lives in a ref too: socket callbacks need the latest lastSeq synchronously.
  const stateRef = useRef<RunEventsState>(initialRunEventsState);
  const [state, setState] = useState<RunEventsState>(initialRunEventsState);
  const [connection, setConnection] = useState<ConnectionState>("connecting");
  const [failures, setFailures] = useState(0);
  /** Set by the socket effect: close the socket (the run is final) or open one (it is live again). */
  const followRef = useRef<(isFinal: boolean) => void>(() => undefined);

  const dispatch = useCallback((action: RunEventsAction): RunEventsState => {
    const next = reduceRunEvents(stateRef.current, action);
    if (next !== stateRef.current) {
      stateRef.current = next;
      setState(next);
    }
    return next;
  }, []);

  useEffect(() => {
    dispatch({ kind: "reset" });
    if (runId === undefined) return;
    let socket: WebSocket | null = null;
    let timer: number | undefined;
    let failed = 0;
    let disposed = false;
    // Gaps in quick succession back off too, so a misbehaving server cannot make us spin.
    let lastGapAt = -Infinity;
    let quickGaps = 0;

    const connect = () => {
      timer = undefined;
      const held = stateRef.current;
      const after = held.run ? held.lastSeq : null;
      setConnection(held.run || failed ? "reconnecting" : "connecting");
      const ws = new WebSocket(runSocketUrl(window.location, runId, after));
      socket = ws;
      if (after !== null) dispatch({ kind: "resumed" });

      ws.onopen = () => {
        if (socket !== ws) return;
        failed = 0;
        setFailures(0);
        setConnection("open");
      };
      ws.onmessage = (message: MessageEvent) => {
        if (socket !== ws) return; // a socket we are leaving
        let data: unknown;
        try {
          data = JSON.parse(String(message.data));
        } catch {
          return;
        }
        if (dispatch({ kind: "message", message: data }).gap) {
          // An event went missing: leave this socket (without waiting for its close handshake)
          // and resume from the last event applied; the server replays the rest in order.
          socket = null;
          ws.close();
          const now = Date.now();
          quickGaps = now - lastGapAt < 5000 ? quickGaps + 1 : 0;
          lastGapAt = now;
          timer = window.setTimeout(connect, quickGaps ? backoffDelay(quickGaps) : 0);
        }
      };
      ws.onclose = () => {
        if (socket !== ws || disposed) return;
        socket = null;
        if (isRunFinal(stateRef.current.run)) {
          setConnection("closed");
          return;
        }
        const delay = backoffDelay(failed);
        failed += 1;
        setFailures(failed);
        setConnection("reconnecting");
        timer = window.setTimeout(connect, delay);
      };
      // An error is always followed by close, which reconnects.
      ws.onerror = () => undefined;
    };

    followRef.current = (isFinal: boolean) => {
      if (disposed) return;
      if (isFinal) {
        // Nothing more will happen to a final run unless someone retries it: stop listening.
        if (timer !== undefined) window.clearTimeout(timer);
        timer = undefined;
        const ws = socket;
        socket = null;
        ws?.close();
        setConnection("closed");
      } else if (socket === null && timer === undefined) {
        connect();
      }
    };

    connect();
    return () => {
      disposed = true;
      if (timer !== undefined) window.clearTimeout(timer);
      const ws = socket;
      socket = null;
      ws?.close();
    };
  }, [runId, dispatch]);

  const isFinal = isRunFinal(state.run);
  useEffect(() => followRef.current(isFinal), [isFinal]);

  const applyRun = useCallback((run: RunDetail) => void dispatch({ kind: "run", run }), [dispatch]);

  return { run: state.run, lastSeq: state.lastSeq, connection, failures, applyRun };
}
