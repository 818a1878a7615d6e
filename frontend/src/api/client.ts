// Typed fetch for the Trellis API: JSON in and out, session cookie, CSRF header on unsafe methods.
import type {
  LoginRequest,
  PageQuery,
  Paginated,
  PipelineCreate,
  PipelineDetail,
  PipelineSpec,
  PipelineSummary,
  QuotaAnswer,
  QuotaSettings,
  RunDetail,
  RunQuery,
  RunSubmit,
  RunSummary,
  SessionResponse,
  StepAttempt,
  StepLogChunk,
  Team,
  TeamQueue,
  ValidationResult,
  VersionDetail,
  VersionSave,
  VersionWithSpec,
} from "./types";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

const UNSAFE_METHODS: ReadonlySet<HttpMethod> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A response outside 2xx (status 0: the server could not be reached). */
export class ApiError extends Error {
  readonly status: number;
  /** The parsed body: JSON when the server sent JSON, else the text, else null. */
  readonly body: unknown;

  constructor(status: number, body: unknown, message?: string) {
    super(message ?? describeErrorBody(status, body));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  /** DRF's `{"field": ["msg", ...]}` errors, without `detail` and `non_field_errors`. */
  get fieldErrors(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    if (!isRecord(this.body)) return out;
    for (const [key, value] of Object.entries(this.body)) {
      if (key === "detail" || key === "non_field_errors") continue;
      out[key] = toMessages(value);
    }
    return out;
  }
}

/** A message a person can read, from a DRF error body. */
export function describeErrorBody(status: number, body: unknown): string {
  if (typeof body === "string" && body.trim() && body.length < 300 && !body.trimStart().startsWith("<")) {
    return body.trim();
  }
  if (isRecord(body)) {
    if (typeof body.detail === "string") return body.detail;
    const parts = Object.entries(body).map(([key, value]) => {
      const text = toMessages(value).join(" ");
      return key === "non_field_errors" ? text : `${key}: ${text}`;
    });
    if (parts.length) return parts.join("; ");
  }
  if (status === 0) return "Could not reach the server.";
  return `The server answered ${status}.`;
}

/** A message for anything a request may throw. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function toMessages(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(toMessages);
  if (isRecord(value)) return Object.entries(value).map(([k, v]) => `${k}: ${toMessages(v).join(" ")}`);
  return [String(value)];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function readCookie(name: string, cookies: string): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

function documentCookies(): string {
  return typeof document === "undefined" ? "" : document.cookie;
}

export function hasCsrfCookie(): boolean {
  return readCookie("csrftoken", documentCookies()) !== null;
}

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes("?") ? "&" : "?"}${qs}` : path;
}

type Listener = (error: ApiError) => void;
let unauthenticatedListener: Listener | null = null;

/** Called when a request fails because the session is gone (401, or DRF's 403 for anonymous). */
export function onUnauthenticated(listener: Listener | null): void {
  unauthenticatedListener = listener;
}

function isUnauthenticated(error: ApiError): boolean {
  if (error.status === 401) return true;
  const body = error.body;
  return (
    error.status === 403 &&
    isRecord(body) &&
    typeof body.detail === "string" &&
    /credentials were not provided|not authenticated/i.test(body.detail)
  );
}

async function parseBody(response: Response): Promise<unknown> {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

export async function request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE_METHODS.has(method)) {
    const token = readCookie("csrftoken", documentCookies());
    if (token) headers["X-CSRFToken"] = token;
  }
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, null);
  }
  const body = await parseBody(response);
  if (!response.ok) {
    const error = new ApiError(response.status, body);
    if (isUnauthenticated(error)) unauthenticatedListener?.(error);
    throw error;
  }
  return body as T;
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

const seg = encodeURIComponent;

/** One function per API operation. */
export const api = {
  session: (signal?: AbortSignal) => request<SessionResponse>("GET", "/api/auth/session/", { signal }),
  login: (body: LoginRequest) => request<SessionResponse>("POST", "/api/auth/login/", { body }),
  logout: () => request<null>("POST", "/api/auth/logout/"),

  teams: (page: PageQuery = {}, signal?: AbortSignal) =>
    request<Paginated<Team>>("GET", "/api/teams/", { query: { ...page }, signal }),

  team: (id: number | string, signal?: AbortSignal) => request<Team>("GET", `/api/teams/${seg(String(id))}/`, { signal }),
  teamQueue: (id: number | string, signal?: AbortSignal) =>
    request<TeamQueue>("GET", `/api/teams/${seg(String(id))}/queue/`, { signal }),
  teamQuota: (id: number | string, signal?: AbortSignal) =>
    request<QuotaAnswer>("GET", `/api/teams/${seg(String(id))}/quota/`, { signal }),
  saveTeamQuota: (id: number | string, body: QuotaSettings) =>
    request<QuotaAnswer>("PUT", `/api/teams/${seg(String(id))}/quota/`, { body }),
  changeTeamQuota: (id: number | string, body: Partial<QuotaSettings>) =>
    request<QuotaAnswer>("PATCH", `/api/teams/${seg(String(id))}/quota/`, { body }),

  pipelines: (page: PageQuery = {}, signal?: AbortSignal) =>
    request<Paginated<PipelineSummary>>("GET", "/api/pipelines/", { query: { ...page }, signal }),
  pipeline: (id: number | string, signal?: AbortSignal) =>
    request<PipelineDetail>("GET", `/api/pipelines/${seg(String(id))}/`, { signal }),
  createPipeline: (body: PipelineCreate) => request<PipelineDetail>("POST", "/api/pipelines/", { body }),
  saveVersion: (id: number | string, body: VersionSave) =>
    request<VersionWithSpec>("POST", `/api/pipelines/${seg(String(id))}/versions/`, { body }),
  version: (id: number | string, number: number | string, signal?: AbortSignal) =>
    request<VersionDetail>("GET", `/api/pipelines/${seg(String(id))}/versions/${seg(String(number))}/`, { signal }),
  validate: (spec: PipelineSpec, signal?: AbortSignal) =>
    request<ValidationResult>("POST", "/api/pipelines/validate/", { body: { spec }, signal }),

  runs: (query: RunQuery = {}, signal?: AbortSignal) =>
    request<Paginated<RunSummary>>("GET", "/api/runs/", { query: { ...query }, signal }),
  run: (id: number | string, signal?: AbortSignal) =>
    request<RunDetail>("GET", `/api/runs/${seg(String(id))}/`, { signal }),
  submitRun: (body: RunSubmit) => request<RunDetail>("POST", "/api/runs/", { body }),
  cancelRun: (id: number | string) => request<RunDetail>("POST", `/api/runs/${seg(String(id))}/cancel/`),
  retryRun: (id: number | string) => request<RunDetail>("POST", `/api/runs/${seg(String(id))}/retry/`),
  /** A step's output that is a JSON file of at most 1 MB (404 otherwise). */
  artifact: (runId: number | string, step: string, output: string, signal?: AbortSignal) =>
    request<unknown>("GET", `/api/runs/${seg(String(runId))}/artifacts/${seg(step)}/${seg(output)}/`, { signal }),
  /** A chunk of a step's log: its latest attempt's, or `attempt`'s (404 for one it has not had). */
  stepLog: (runId: number | string, step: string, offset: number, signal?: AbortSignal, attempt?: number) =>
    request<StepLogChunk>("GET", `/api/runs/${seg(String(runId))}/steps/${seg(step)}/log/`, {
      query: attempt === undefined ? { offset } : { offset, attempt },
      signal,
    }),
  /** A step's attempts, oldest first, each with why it ended as it did. */
  stepAttempts: (runId: number | string, step: string, signal?: AbortSignal) =>
    request<StepAttempt[]>("GET", `/api/runs/${seg(String(runId))}/steps/${seg(step)}/attempts/`, { signal }),
};
