// Pure helpers of the team page: the socket's address, usage bars, amounts, the quota form.
import type { QuotaSettings, ResourceUsage, TeamQueue } from "../api/types";

export function teamSocketUrl(location: { protocol: string; host: string }, teamId: number | string): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/teams/${encodeURIComponent(String(teamId))}/`;
}

/** The queue carried by a socket message, or null for anything else (pong, garbage). */
export function queueOf(message: unknown): TeamQueue | null {
  if (typeof message !== "object" || message === null) return null;
  const m = message as { type?: unknown; queue?: unknown };
  if (m.type !== "queue" || typeof m.queue !== "object" || m.queue === null) return null;
  const q = m.queue as Partial<TeamQueue>;
  return Array.isArray(q.waiting) && Array.isArray(q.active) && Array.isArray(q.usage) ? (q as TeamQueue) : null;
}

export interface UsageBar {
  /** Percent of the bar's width: held within the nominal quota, then borrowed beyond it. */
  withinPct: number;
  borrowedPct: number;
  /** Where the nominal quota and the borrowing limit sit (null: none). */
  nominalPct: number | null;
  limitPct: number | null;
}

/** A bar scaled to the most the team may hold (nominal + borrowing limit), or what it holds. */
export function usageBar(u: ResourceUsage): UsageBar {
  const nominal = u.nominal ?? 0;
  const ceiling = u.nominal !== null && u.borrowing_limit !== null ? nominal + u.borrowing_limit : nominal;
  const scale = Math.max(u.used, nominal, ceiling) || 1;
  const pct = (v: number) => Math.max(0, Math.min(100, (v / scale) * 100));
  const within = u.nominal === null ? u.used : Math.min(u.used, nominal);
  return {
    withinPct: pct(within),
    borrowedPct: pct(u.used - within),
    nominalPct: u.nominal === null ? null : pct(nominal),
    limitPct: u.nominal !== null && u.borrowing_limit !== null ? pct(ceiling) : null,
  };
}

/** An amount of a resource, as people read it: memory in GB from 1 GB up. */
export function formatAmount(resource: string, value: number): string {
  if (resource === "memory_mb") {
    return value >= 1024 ? `${trim(value / 1024)} GB` : `${trim(value)} MB`;
  }
  return trim(value);
}

function trim(value: number): string {
  return String(Math.round(value * 100) / 100);
}

export function describeUsage(u: ResourceUsage): string {
  const used = formatAmount(u.resource, u.used);
  if (u.nominal === null) return `${used} in use (not limited on its own)`;
  const parts = [`${used} of ${formatAmount(u.resource, u.nominal)} nominal`];
  if (u.borrowed > 0) parts.push(`${formatAmount(u.resource, u.borrowed)} borrowed`);
  if (u.borrowing_limit !== null) parts.push(`may borrow ${formatAmount(u.resource, u.borrowing_limit)}`);
  return parts.join(", ");
}

// --- the quota form: every field is text while edited; the server validates ------------------

export interface GpuClassRow {
  gpu_class: string;
  gpu: string;
  borrow_gpu: string;
}

export interface QuotaForm {
  cpu: string;
  memory_mb: string;
  gpu: string;
  borrow_cpu: string;
  borrow_memory_mb: string;
  borrow_gpu: string;
  cohort: string;
  weight: string;
  gpu_classes: GpuClassRow[];
}

const text = (v: number | null | undefined): string => (v === null || v === undefined ? "" : String(v));

export function formOf(quota: QuotaSettings | null): QuotaForm {
  return {
    cpu: text(quota?.cpu ?? 0),
    memory_mb: text(quota?.memory_mb ?? 0),
    gpu: text(quota?.gpu ?? 0),
    borrow_cpu: text(quota?.borrow_cpu),
    borrow_memory_mb: text(quota?.borrow_memory_mb),
    borrow_gpu: text(quota?.borrow_gpu),
    cohort: quota?.cohort ?? "",
    weight: text(quota?.weight),
    gpu_classes: (quota?.gpu_classes ?? []).map((c) => ({
      gpu_class: c.gpu_class,
      gpu: String(c.gpu),
      borrow_gpu: text(c.borrow_gpu),
    })),
  };
}

/** A number when the text is one; else the text itself, so the server names the field's problem. */
function numberOr(value: string): number | string {
  const t = value.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

/** Blank means null (no limit, no weight). */
function nullableNumber(value: string): number | string | null {
  return value.trim() === "" ? null : numberOr(value);
}

/** The request body: typed as the API's, though a field may carry text the server will refuse. */
export function quotaBody(form: QuotaForm): QuotaSettings {
  return {
    cpu: numberOr(form.cpu),
    memory_mb: numberOr(form.memory_mb),
    gpu: numberOr(form.gpu),
    borrow_cpu: nullableNumber(form.borrow_cpu),
    borrow_memory_mb: nullableNumber(form.borrow_memory_mb),
    borrow_gpu: nullableNumber(form.borrow_gpu),
    cohort: form.cohort === "" ? null : form.cohort,
    weight: nullableNumber(form.weight),
    gpu_classes: form.gpu_classes.map((c) => ({
      gpu_class: c.gpu_class,
      gpu: numberOr(c.gpu),
      borrow_gpu: nullableNumber(c.borrow_gpu),
    })),
  } as QuotaSettings;
}

/** Only what the admin changed since the quota was loaded (`base`), so that saving does not put
 * back a field someone else changed meanwhile. GPU class rows go as a whole when any changed. */
export function quotaChanges(base: QuotaForm, form: QuotaForm): Partial<QuotaSettings> {
  const before = quotaBody(base) as unknown as Record<string, unknown>;
  const after = quotaBody(form) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(after[key]) !== JSON.stringify(before[key])) out[key] = after[key];
  }
  return out as Partial<QuotaSettings>;
}

/** DRF's errors for the quota, by field; a GPU class row's by `gpu_classes.<i>.<field>`. */
export function quotaFieldErrors(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) return out;
  const flat = (v: unknown): string =>
    Array.isArray(v) ? v.map(flat).join(" ") : typeof v === "object" && v !== null ? "" : String(v);
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (key === "gpu_classes" && typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const [index, row] of Object.entries(value as Record<string, unknown>)) {
        if (typeof row !== "object" || row === null) continue;
        for (const [field, messages] of Object.entries(row as Record<string, unknown>)) {
          out[`gpu_classes.${index}.${field}`] = flat(messages);
        }
      }
      continue;
    }
    if (key === "gpu_classes" && Array.isArray(value) && value.some((v) => typeof v === "object" && v !== null)) {
      value.forEach((row, index) => {
        if (typeof row !== "object" || row === null) return;
        for (const [field, messages] of Object.entries(row as Record<string, unknown>)) {
          out[`gpu_classes.${index}.${field}`] = flat(messages);
        }
      });
      continue;
    }
    out[key] = flat(value);
  }
  return out;
}
