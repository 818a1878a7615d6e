// The team's quota settings: a form for platform admins, read-only for the team's admins.
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../api/client";
import type { QuotaAnswer, QuotaSettings } from "../api/types";
import { useApi } from "../api/useApi";
import { ErrorMessage } from "../ui";
import { formatAmount, formOf, quotaBody, quotaChanges, quotaFieldErrors, type QuotaForm } from "./teamQueue";

export function QuotaPanel({ teamId, canEdit }: { teamId: number; canEdit: boolean }) {
  const state = useApi((signal) => api.teamQuota(teamId, signal), [teamId]);
  const [answer, setAnswer] = useState<QuotaAnswer | undefined>(undefined);
  useEffect(() => setAnswer(state.data), [state.data]);

  if (state.error) return <ErrorMessage error={state.error} onRetry={state.reload} />;
  if (!answer) return <p className="muted">Loading the quota…</p>;
  return (
    <>
      <Warnings warnings={answer.warnings} />
      {canEdit ? (
        <QuotaEditor teamId={teamId} answer={answer} onSaved={setAnswer} />
      ) : (
        <QuotaReadOnly quota={answer.quota} />
      )}
    </>
  );
}

function Warnings({ warnings }: { warnings: readonly string[] }) {
  if (!warnings.length) return null;
  return (
    <ul className="quota-warnings" data-testid="quota-warnings" role="status">
      {warnings.map((w) => (
        <li key={w}>{w}</li>
      ))}
    </ul>
  );
}

const orNone = (v: number | null, resource: string, none: string) => (v === null ? none : formatAmount(resource, v));

function QuotaReadOnly({ quota }: { quota: QuotaSettings | null }) {
  if (!quota) return <p className="empty" data-testid="quota-readonly">No quota yet: a platform admin must set one.</p>;
  const rows: [string, string][] = [
    ["cpu", `${formatAmount("cpu", quota.cpu)} (may borrow ${orNone(quota.borrow_cpu, "cpu", "what the cohort lends")})`],
    ["memory", `${formatAmount("memory_mb", quota.memory_mb)} (may borrow ${orNone(quota.borrow_memory_mb, "memory_mb", "what the cohort lends")})`],
    ["gpu", `${quota.gpu} (may borrow ${orNone(quota.borrow_gpu, "gpu", "what the cohort lends")})`],
    ...quota.gpu_classes.map((c): [string, string] => [
      `${c.gpu_class} gpu`,
      `${c.gpu} (may borrow ${orNone(c.borrow_gpu, "gpu", "what the cohort lends")})`,
    ]),
    ["cohort", quota.cohort ?? "none: the team borrows from nobody"],
    ["fair-share weight", quota.weight === null ? "its nominal quota's share" : String(quota.weight)],
  ];
  return (
    <dl className="facts" data-testid="quota-readonly">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

type FieldName = Exclude<keyof QuotaForm, "gpu_classes">;

const FIELDS: { name: FieldName; label: string; hint?: string }[] = [
  { name: "cpu", label: "CPUs (nominal)" },
  { name: "memory_mb", label: "Memory, MB (nominal)" },
  { name: "gpu", label: "GPUs of any class (nominal)" },
  { name: "borrow_cpu", label: "CPUs it may borrow", hint: "blank: what the cohort lends" },
  { name: "borrow_memory_mb", label: "Memory it may borrow, MB", hint: "blank: what the cohort lends" },
  { name: "borrow_gpu", label: "GPUs it may borrow", hint: "blank: what the cohort lends" },
  { name: "weight", label: "Fair-share weight", hint: "blank: its nominal quota's share" },
];

function QuotaEditor({ teamId, answer, onSaved }: { teamId: number; answer: QuotaAnswer; onSaved: (a: QuotaAnswer) => void }) {
  const [form, setForm] = useState<QuotaForm>(() => formOf(answer.quota));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [isSaving, setIsSaving] = useState(false);
  const [saved, setSaved] = useState(false);

  const set = (name: FieldName, value: string) => {
    setForm((f) => ({ ...f, [name]: value }));
    setSaved(false);
  };
  const setRow = (i: number, field: "gpu_class" | "gpu" | "borrow_gpu", value: string) => {
    setForm((f) => ({ ...f, gpu_classes: f.gpu_classes.map((r, j) => (j === i ? { ...r, [field]: value } : r)) }));
    setSaved(false);
  };
  const addRow = () =>
    setForm((f) => ({ ...f, gpu_classes: [...f.gpu_classes, { gpu_class: answer.gpu_classes[0] ?? "", gpu: "0", borrow_gpu: "" }] }));
  const removeRow = (i: number) => setForm((f) => ({ ...f, gpu_classes: f.gpu_classes.filter((_, j) => j !== i) }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setIsSaving(true);
    setFailure(null);
    setSaved(false);
    try {
      // A new quota is set whole; an existing one changes only in what this admin changed.
      const next = answer.quota
        ? await api.changeTeamQuota(teamId, quotaChanges(formOf(answer.quota), form))
        : await api.saveTeamQuota(teamId, quotaBody(form));
      setErrors({});
      setForm(formOf(next.quota));
      onSaved(next);
      setSaved(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        setErrors(quotaFieldErrors(err.body));
        setFailure("The quota was not saved: see the fields marked below.");
      } else {
        setFailure(errorMessage(err));
      }
    } finally {
      setIsSaving(false);
    }
  };

  const fieldError = (key: string) =>
    errors[key] ? (
      <span className="field-error" id={`quota-error-${key}`} data-testid={`quota-error-${key}`}>
        {errors[key]}
      </span>
    ) : null;

  return (
    <form className="quota-form" onSubmit={submit} noValidate data-testid="quota-form">
      <div className="quota-grid">
        {FIELDS.map((f) => (
          <label key={f.name} className="quota-field">
            <span>{f.label}</span>
            <input
              type="text"
              inputMode="decimal"
              name={f.name}
              value={form[f.name]}
              onChange={(e) => set(f.name, e.target.value)}
              aria-invalid={errors[f.name] ? true : undefined}
              aria-describedby={errors[f.name] ? `quota-error-${f.name}` : undefined}
              placeholder={f.hint}
              data-testid={`quota-${f.name}`}
            />
            {fieldError(f.name)}
          </label>
        ))}
        <label className="quota-field">
          <span>Cohort</span>
          <select value={form.cohort} onChange={(e) => set("cohort", e.target.value)} data-testid="quota-cohort"
                  aria-invalid={errors.cohort ? true : undefined}>
            <option value="">none (borrows from nobody)</option>
            {answer.cohorts.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
          {fieldError("cohort")}
        </label>
      </div>
      <fieldset className="quota-classes">
        <legend>GPUs per class</legend>
        {!answer.gpu_classes.length && !form.gpu_classes.length && (
          <p className="muted small">No GPU classes are defined yet (Django admin: GPU classes).</p>
        )}
        {fieldError("gpu_classes")}
        {form.gpu_classes.map((row, i) => (
          <div key={i} className="quota-class-row">
            <label>
              <span>Class</span>
              <select value={row.gpu_class} onChange={(e) => setRow(i, "gpu_class", e.target.value)}>
                {[...new Set([row.gpu_class, ...answer.gpu_classes])].map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
              {fieldError(`gpu_classes.${i}.gpu_class`)}
            </label>
            <label>
              <span>Nominal</span>
              <input type="text" inputMode="numeric" value={row.gpu} onChange={(e) => setRow(i, "gpu", e.target.value)} />
              {fieldError(`gpu_classes.${i}.gpu`)}
            </label>
            <label>
              <span>May borrow</span>
              <input type="text" inputMode="numeric" value={row.borrow_gpu} placeholder="blank: what the cohort lends"
                     onChange={(e) => setRow(i, "borrow_gpu", e.target.value)} />
              {fieldError(`gpu_classes.${i}.borrow_gpu`)}
            </label>
            <button type="button" className="link-button" onClick={() => removeRow(i)}>
              Remove
            </button>
          </div>
        ))}
        {answer.gpu_classes.length > 0 && (
          <button type="button" className="link-button" onClick={addRow} data-testid="quota-add-class">
            Add a GPU class
          </button>
        )}
      </fieldset>
      <div className="quota-actions">
        <button type="submit" disabled={isSaving} data-testid="quota-save">
          {isSaving ? "Saving…" : "Save quota"}
        </button>
        {saved && (
          <span className="muted" role="status" data-testid="quota-saved">
            Saved. A dispatch follows.
          </span>
        )}
        {failure && (
          <span className="field-error" role="alert" data-testid="quota-failure">
            {failure}
          </span>
        )}
      </div>
    </form>
  );
}
