// Who is signed in: loaded once from /api/auth/session/ (which also sets the csrftoken cookie),
// changed by login and logout, and cleared when any request finds the session gone.
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, hasCsrfCookie, onUnauthenticated } from "../api/client";
import type { User } from "../api/types";

export type SessionStatus = "loading" | "ready" | "error";

export interface Session {
  user: User | null;
  status: SessionStatus;
  error: unknown;
  login: (username: string, password: string) => Promise<User | null>;
  logout: () => Promise<void>;
  refresh: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [status, setStatus] = useState<SessionStatus>("loading");
  const [error, setError] = useState<unknown>(null);

  const refresh = useCallback(async () => {
    try {
      const session = await api.session();
      setUser(session.user);
      setError(null);
      setStatus("ready");
    } catch (err) {
      setError(err);
      setStatus("error");
    }
  }, []);

  useEffect(() => {
    void refresh();
    onUnauthenticated(() => setUser(null));
    return () => onUnauthenticated(null);
  }, [refresh]);

  const login = useCallback(async (username: string, password: string) => {
    // The CSRF cookie comes with the session call; make sure we hold one before posting.
    if (!hasCsrfCookie()) await api.session();
    const session = await api.login({ username, password });
    setUser(session.user);
    setStatus("ready");
    return session.user;
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      setUser(null);
    }
  }, []);

  const value = useMemo<Session>(
    () => ({ user, status, error, login, logout, refresh }),
    [user, status, error, login, logout, refresh],
  );
  return createElement(SessionContext.Provider, { value }, children);
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession needs a <SessionProvider> above it");
  return session;
}

/** Where to go after signing in: only a path on this site (never `//host` or a full URL). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}
