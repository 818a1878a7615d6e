// Mirrors the JSON of the server's API serializers. Timestamps are ISO 8601 strings.

export interface Paginated<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface PageQuery {
  limit?: number;
  offset?: number;
}

// --- auth -----------------------------------------------------------------------------------

export interface User {
  id: number;
  username: string;
}

export interface SessionResponse {
  user: User | null;
}

export interface LoginRequest {
  username: string;
  password: string;
}

// --- teams ----------------------------------------------------------------------------------

export type TeamRole = "viewer" | "editor" | "admin";

export interface Quota {
  cpu: number;
  memory_mb: number;
  gpu: number;
}

export interface Team {
  id: number;
  name: string;
  display_name: string;
  /** Null: the caller is a platform admin, not a member of the team. */
  role: TeamRole | null;
  quota: Quota | null;
  /** The team's admins and platform admins read the quota settings. */
  can_read_quota: boolean;
  /** Platform admins change them. */
  can_edit_quota: boolean;
}

// --- team queue and quota (scheduling/api/serializers.py) ------------------------------------

export interface StepRequest {
  cpu: number;
  memory_mb: number;
  gpu: number;
  gpu_class: string;
  /** Pods started together; the request is per pod. */
  gang: number;
}

export type QueueVerdict = "admit" | "wait" | "never";

export interface QueuedStep {
  step_run_id: number;
  /** 1-based place in the whole cluster's admission order. */
  position: number;
  run_id: number;
  pipeline: string;
  step: string;
  attempt: number;
  request: StepRequest;
  priority: number;
  queued_at: string | null;
  verdict: QueueVerdict;
  reason: string;
}

export interface ActiveStep {
  step_run_id: number;
  run_id: number;
  pipeline: string;
  step: string;
  attempt: number;
  status: "admitted" | "running" | "preempted";
  node: string;
  since: string | null;
  request: StepRequest;
  preempting: string;
}

export interface ResourceUsage {
  resource: string;
  label: string;
  used: number;
  nominal: number | null;
  borrowing_limit: number | null;
  borrowed: number;
}

export interface TeamQueue {
  team_id: number;
  team: string;
  policy: string;
  cohort: string;
  has_quota: boolean;
  waiting_in_cluster: number;
  waiting: QueuedStep[];
  active: ActiveStep[];
  usage: ResourceUsage[];
  as_of: string;
}

export interface GpuClassQuota {
  gpu_class: string;
  gpu: number;
  borrow_gpu: number | null;
}

export interface QuotaSettings {
  cpu: number;
  memory_mb: number;
  gpu: number;
  borrow_cpu: number | null;
  borrow_memory_mb: number | null;
  borrow_gpu: number | null;
  cohort: string | null;
  weight: number | null;
  gpu_classes: GpuClassQuota[];
}

export interface QuotaAnswer {
  team: string;
  quota: QuotaSettings | null;
  warnings: string[];
  cohorts: string[];
  gpu_classes: string[];
}

export interface TeamRef {
  id: number;
  name: string;
}

// --- pipeline specs -------------------------------------------------------------------------

export interface Resources {
  cpu: number;
  memory_mb: number;
  gpu: number;
  gpu_class: string;
}

export interface Position {
  x: number;
  y: number;
}

/**
 * One step of a pipeline version's spec. The server fills every field when it saves a version;
 * the optional ones may be missing in a spec written by hand or being drawn in the editor.
 */
export interface StepSpec {
  name: string;
  type: string;
  image: string;
  command: string[];
  env?: Record<string, string>;
  resources?: Resources;
  /** local input name -> "producer.output" */
  inputs?: Record<string, string>;
  outputs?: string[];
  depends_on?: string[];
  retries?: number;
  timeout_s?: number;
  estimate_s?: number | null;
  position?: Position;
}

export interface PipelineSpec {
  steps: StepSpec[];
}

export type Severity = "error" | "warning";

export interface Problem {
  code: string;
  message: string;
  steps: string[];
  severity: Severity;
  field: string;
}

export interface ValidationResult {
  problems: Problem[];
  is_valid: boolean;
  layers: string[][];
  critical_path: { steps: string[]; estimated_s: number } | null;
}

// --- pipelines ------------------------------------------------------------------------------

export interface VersionSummary {
  number: number;
  message: string;
  created_by: string | null;
  created_at: string;
}

export interface PipelineSummary {
  id: number;
  team: TeamRef;
  name: string;
  description: string;
  latest_version: VersionSummary | null;
  created_at: string;
}

export interface PipelineDetail extends PipelineSummary {
  /** The latest version's spec, null while the pipeline has no version. */
  spec: PipelineSpec | null;
  versions: VersionSummary[];
}

export interface VersionWithSpec extends VersionSummary {
  spec: PipelineSpec;
}

export interface VersionDetail extends VersionWithSpec {
  plan: ValidationResult;
}

export interface PipelineCreate {
  team: number;
  name: string;
  description?: string;
  spec: PipelineSpec;
  message?: string;
}

export interface VersionSave {
  spec: PipelineSpec;
  message?: string;
}

// --- runs -----------------------------------------------------------------------------------

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export type StepRunStatus =
  | "pending"
  | "queued"
  | "admitted"
  | "running"
  | "succeeded"
  | "failed"
  | "preempted"
  | "cancelled"
  | "skipped";

export const RUN_FINAL: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** A failed step may still be retried (failed -> queued); the run's status says when it is over. */
export const STEP_FINAL: ReadonlySet<StepRunStatus> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
]);

export interface RunSummary {
  id: number;
  pipeline: { id: number; name: string };
  team: TeamRef;
  version: number;
  status: RunStatus;
  reason: string;
  created_by: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** One step of a run; `attempt` counts its tries (1-based). */
export interface StepRun {
  id: number;
  step: string;
  status: StepRunStatus;
  attempt: number;
  max_attempts: number;
  queued_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  reason: string;
  node: string;
}

export interface RunDetail extends RunSummary {
  /** The spec snapshotted when the run was submitted. */
  spec: PipelineSpec;
  last_seq: number;
  parameters: Record<string, unknown>;
  step_runs: StepRun[];
}

export interface RunSubmit {
  pipeline: number;
  version?: number;
  parameters?: Record<string, unknown>;
  priority?: number;
}

export interface RunQuery extends PageQuery {
  pipeline?: number;
}

export interface StepLogChunk {
  text: string;
  offset: number;
  next_offset: number;
  is_complete: boolean;
}

/** One attempt of a step (`GET /api/runs/<id>/steps/<step>/attempts/`, oldest first). */
export interface StepAttempt {
  attempt: number;
  /** Its final or current status. */
  status: StepRunStatus;
  /** When it first became ready to run. */
  queued_at: string | null;
  /** When it first started running (a preemption does not move it). */
  started_at: string | null;
  /** Null while it has not ended. */
  finished_at: string | null;
  /** Only the latest attempt's is known. */
  node: string | null;
  exit_code: number | null;
  reason: string;
  /** Times it was admitted: more than 1 after a preemption. */
  admissions: number;
}

// --- websocket messages (ws/runs/<id>/) -----------------------------------------------------

export interface RunSnapshotMessage {
  type: "snapshot";
  seq: number;
  run: RunDetail;
}

export interface StepTransitionMessage {
  type: "step.transition";
  run: number;
  seq: number;
  step: string;
  step_run: number;
  attempt: number;
  from: StepRunStatus;
  to: StepRunStatus;
  reason: string;
  exit_code: number | null;
  run_status: RunStatus;
  at: string;
}

export type RunMessage = RunSnapshotMessage | StepTransitionMessage;
