// The team's queue, live over ws/teams/<id>/: the server sends the whole queue on connect and
// again after every change, so a reconnect (with backoff) needs no resume position.
import { useEffect, useState } from "react";
import type { TeamQueue } from "../api/types";
import { backoffDelay } from "../runs/runEvents";
import { queueOf, teamSocketUrl } from "./teamQueue";

export type TeamConnection = "connecting" | "open" | "reconnecting";

export interface TeamQueueState {
  queue: TeamQueue | null;
  connection: TeamConnection;
}

export function useTeamQueue(teamId: number | string | undefined): TeamQueueState {
  const [queue, setQueue] = useState<TeamQueue | null>(null);
  const [connection, setConnection] = useState<TeamConnection>("connecting");

  useEffect(() => {
    setQueue(null);
    setConnection("connecting");
    if (teamId === undefined) return;
    let socket: WebSocket | null = null;
    let timer: number | undefined;
    let failed = 0;
    let disposed = false;

    const connect = () => {
      timer = undefined;
      const ws = new WebSocket(teamSocketUrl(window.location, teamId));
      socket = ws;
      ws.onopen = () => {
        if (socket !== ws) return;
        failed = 0;
        setConnection("open");
      };
      ws.onmessage = (message: MessageEvent) => {
        if (socket !== ws) return;
        let data: unknown;
        try {
          data = JSON.parse(String(message.data));
        } catch {
          return;
        }
        const next = queueOf(data);
        if (next) setQueue(next);
      };
      ws.onclose = () => {
        if (socket !== ws || disposed) return;
        socket = null;
        setConnection("reconnecting");
        timer = window.setTimeout(connect, backoffDelay(failed));
        failed += 1;
      };
      ws.onerror = () => undefined; // close follows, and reconnects
    };

    connect();
    return () => {
      disposed = true;
      if (timer !== undefined) window.clearTimeout(timer);
      const ws = socket;
      socket = null;
      ws?.close();
    };
  }, [teamId]);

  return { queue, connection };
}
