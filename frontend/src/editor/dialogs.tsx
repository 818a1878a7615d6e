// The editor's dialogs: save a version (or create the pipeline), run, and leave with unsaved changes.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, errorMessage } from "../api/client";
import type { Team } from "../api/types";
import { Field, KeyValueRows } from "./fields";

function Dialog({ title, children, onClose, testId }: { title: string; children: ReactNode; onClose: () => void; testId: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("input, textarea, select, button.primary")?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && closeRef.current();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label={title} data-testid={testId} ref={ref}>
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** What a failed save says: the server's problems one per line, else its message. */
export function saveErrorLines(err: unknown): string[] {
  if (err instanceof ApiError && typeof err.body === "object" && err.body !== null) {
    const spec = (err.body as Record<string, unknown>).spec;
    if (Array.isArray(spec) && spec.every((p) => typeof p === "object" && p !== null && "message" in p)) {
      return spec.map((p) => String((p as { message: unknown }).message));
    }
  }
  return [errorMessage(err)];
}

export interface SaveRequest {
  message: string;
  name?: string;
  team?: number;
}

interface SaveProps {
  isNew: boolean;
  teams: Team[];
  defaultTeam: number | null;
  onSave: (request: SaveRequest) => Promise<void>;
  onClose: () => void;
}

export function SaveDialog({ isNew, teams, defaultTeam, onSave, onClose }: SaveProps) {
  const [message, setMessage] = useState("");
  const [name, setName] = useState("");
  const [team, setTeam] = useState<number | null>(defaultTeam ?? teams[0]?.id ?? null);
  const [errors, setErrors] = useState<string[]>([]);
  const [isSaving, setIsSaving] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setIsSaving(true);
    setErrors([]);
    try {
      await onSave(isNew ? { message, name: name.trim(), team: team ?? undefined } : { message });
    } catch (err) {
      setErrors(saveErrorLines(err));
      setIsSaving(false);
    }
  };
  return (
    <Dialog title={isNew ? "Create the pipeline" : "Save a new version"} onClose={onClose} testId="save-dialog">
      <form onSubmit={submit} className="dialog-form">
        {isNew && (
          <>
            <Field label="Pipeline name" hint="Lowercase letters, digits, '-' and '_'.">
              <input value={name} onChange={(e) => setName(e.target.value)} required data-testid="save-name" />
            </Field>
            <Field label="Team">
              <select value={team ?? ""} onChange={(e) => setTeam(Number(e.target.value))} data-testid="save-team">
                {teams.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.display_name || t.name}
                  </option>
                ))}
              </select>
            </Field>
          </>
        )}
        <Field label="What changed">
          <input value={message} onChange={(e) => setMessage(e.target.value)} maxLength={500} placeholder="e.g. smaller batch size" data-testid="save-message" />
        </Field>
        {errors.length > 0 && (
          <ul className="error-box error-list" role="alert" data-testid="save-error">
            {errors.map((line, i) => (
              <li key={i}>{line}</li>
            ))}
          </ul>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={isSaving || (isNew && team === null)} data-testid="save-confirm">
            {isSaving ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export interface RunRequest {
  parameters: Record<string, string>;
  priority: number;
}

export function RunDialog({ version, onRun, onClose }: { version: number; onRun: (r: RunRequest) => Promise<void>; onClose: () => void }) {
  const [parameters, setParameters] = useState<Record<string, string>>({});
  const [priority, setPriority] = useState("0");
  const [error, setError] = useState<string | null>(null);
  const [isStarting, setIsStarting] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const p = Number(priority);
    if (!Number.isInteger(p)) {
      setError("The priority is a whole number.");
      return;
    }
    setIsStarting(true);
    setError(null);
    try {
      await onRun({ parameters, priority: p });
    } catch (err) {
      setError(errorMessage(err));
      setIsStarting(false);
    }
  };
  return (
    <Dialog title={`Run version ${version}`} onClose={onClose} testId="run-dialog">
      <form onSubmit={submit} className="dialog-form">
        <KeyValueRows
          label="Parameters"
          value={parameters}
          onChange={setParameters}
          keyPlaceholder="name"
          testId="run-parameters"
        />
        <p className="muted small">Steps see each parameter as TRELLIS_PARAM_&lt;NAME&gt;.</p>
        <Field label="Priority" hint="Higher runs first when the team's queue is ordered by priority.">
          <input type="number" step={1} value={priority} onChange={(e) => setPriority(e.target.value)} data-testid="run-priority" />
        </Field>
        {error && (
          <p className="error-box" role="alert" data-testid="run-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={isStarting} data-testid="run-confirm">
            {isStarting ? "Starting…" : "Run"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function LeaveDialog({ onStay, onLeave }: { onStay: () => void; onLeave: () => void }) {
  return (
    <Dialog title="Leave without saving?" onClose={onStay} testId="leave-dialog">
      <p>Your changes to this pipeline are not saved. They will be lost if you leave.</p>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={onStay} data-testid="leave-stay">
          Stay and keep editing
        </button>
        <button type="button" className="danger" onClick={onLeave} data-testid="leave-confirm">
          Leave and discard
        </button>
      </div>
    </Dialog>
  );
}
