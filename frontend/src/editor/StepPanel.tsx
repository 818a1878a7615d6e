// The side panel for the selected step: every field of its spec, and the server's problems
// naming it. Edits go up as patches; the name is committed on Enter or when leaving the field.
import { useMemo, useState } from "react";
import type { Problem, Resources, StepSpec } from "../api/types";
import { loopsInto } from "../graph/cycles";
import { DEFAULT_RESOURCES, uniqueName } from "../graph/edit";
import { CommandField, Field, KeyValueRows, NumberField, useDraft } from "./fields";
import { STEP_TYPE_LABEL, STEP_TYPES } from "./templates";

interface Props {
  step: StepSpec;
  steps: readonly StepSpec[];
  problems: readonly Problem[];
  isReadOnly: boolean;
  onPatch: (patch: Partial<StepSpec>, field: string) => void;
  onRename: (to: string) => string | null;
  onRenameOutput: (index: number, to: string) => void;
  onDelete: () => void;
  onClose: () => void;
}

export function StepPanel({ step, steps, problems, isReadOnly, onPatch, onRename, onRenameOutput, onDelete, onClose }: Props) {
  const resources: Resources = { ...DEFAULT_RESOURCES, ...step.resources };
  const setResource = (key: keyof Resources, value: number | string) => onPatch({ resources: { ...resources, [key]: value } }, `resources.${key}`);
  return (
    <section className="step-panel" data-testid="step-panel" data-step={step.name} aria-label={`Step ${step.name}`}>
      <header className="step-panel-head">
        <h2>{step.name}</h2>
        <button type="button" className="link-button close" onClick={onClose} aria-label="Close step">
          ✕
        </button>
      </header>

      {problems.length > 0 && (
        <ul className="panel-problems" data-testid="step-panel-problems">
          {problems.map((p, i) => (
            <li key={i} className={`problem problem-${p.severity}`} data-code={p.code}>
              <span className="problem-severity">{p.severity === "error" ? "Error" : "Warning"}</span>
              <span className="problem-message">{p.message}</span>
            </li>
          ))}
        </ul>
      )}

      <NameField name={step.name} onRename={onRename} isReadOnly={isReadOnly} />
      <Field label="Type">
        <select value={step.type} disabled={isReadOnly} onChange={(e) => onPatch({ type: e.target.value }, "type")} data-testid="field-type">
          {STEP_TYPES.map((t) => (
            <option key={t} value={t}>
              {STEP_TYPE_LABEL[t]}
            </option>
          ))}
          {!(STEP_TYPES as readonly string[]).includes(step.type) && <option value={step.type}>{step.type}</option>}
        </select>
      </Field>
      <Field label="Image">
        <input
          className="mono"
          value={step.image}
          readOnly={isReadOnly}
          spellCheck={false}
          onChange={(e) => onPatch({ image: e.target.value }, "image")}
          data-testid="field-image"
        />
      </Field>
      <CommandField value={step.command} onChange={(command) => onPatch({ command }, "command")} isReadOnly={isReadOnly} />

      <fieldset className="resources">
        <legend>Resources</legend>
        <NumberField label="CPU" value={resources.cpu} step={0.1} min={0} onChange={(v) => setResource("cpu", v)} isReadOnly={isReadOnly} testId="field-cpu" />
        <NumberField label="Memory (MB)" value={resources.memory_mb} step={256} min={0} onChange={(v) => setResource("memory_mb", Math.round(v))} isReadOnly={isReadOnly} testId="field-memory" />
        <NumberField label="GPU" value={resources.gpu} min={0} onChange={(v) => setResource("gpu", Math.round(v))} isReadOnly={isReadOnly} testId="field-gpu" />
        <Field label="GPU class">
          <input
            value={resources.gpu_class}
            placeholder="any"
            readOnly={isReadOnly}
            onChange={(e) => setResource("gpu_class", e.target.value)}
            data-testid="field-gpu-class"
          />
        </Field>
      </fieldset>

      <InputRows step={step} steps={steps} isReadOnly={isReadOnly} onChange={(inputs) => onPatch({ inputs }, "inputs")} />
      <OutputRows step={step} isReadOnly={isReadOnly} onRenameOutput={onRenameOutput} onChange={(outputs) => onPatch({ outputs }, "outputs")} />
      <KeyValueRows label="Environment" value={step.env ?? {}} onChange={(env) => onPatch({ env }, "env")} isReadOnly={isReadOnly} testId="field-env" />

      <div className="field-pair">
        <NumberField label="Retries" value={step.retries ?? 0} min={0} onChange={(v) => onPatch({ retries: Math.round(v) }, "retries")} isReadOnly={isReadOnly} testId="field-retries" />
        <NumberField label="Timeout (s)" value={step.timeout_s ?? 3600} min={1} onChange={(v) => onPatch({ timeout_s: Math.round(v) }, "timeout_s")} isReadOnly={isReadOnly} testId="field-timeout" />
      </div>

      {!isReadOnly && (
        <button type="button" className="danger" onClick={onDelete} data-testid="delete-step">
          Delete step
        </button>
      )}
    </section>
  );
}

function NameField({ name, onRename, isReadOnly }: { name: string; onRename: (to: string) => string | null; isReadOnly: boolean }) {
  const [text, setText] = useDraft(name, String, (t, v) => t === v);
  const [error, setError] = useState<string | null>(null);
  const commit = () => {
    if (text === name) return;
    const refused = onRename(text.trim());
    setError(refused);
    if (refused) setText(name);
  };
  return (
    <Field label="Name" hint="Lowercase letters, digits and '-'; other steps' wiring follows a rename." error={error}>
      <input
        value={text}
        readOnly={isReadOnly}
        spellCheck={false}
        data-testid="field-name"
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === "Enter") commit();
          if (e.key === "Escape") setText(name);
        }}
      />
    </Field>
  );
}

function InputRows({ step, steps, isReadOnly, onChange }: { step: StepSpec; steps: readonly StepSpec[]; isReadOnly: boolean; onChange: (inputs: Record<string, string>) => void }) {
  const inputs = step.inputs ?? {};
  const entries = Object.entries(inputs);
  // Every other step's outputs, and the loop each would close: one walk of the graph, redone
  // only when the steps change (a 500-step pipeline has a thousand sources).
  const sources = useMemo(
    () =>
      steps
        .filter((s) => s.name !== step.name)
        .flatMap((s) => (s.outputs ?? []).map((o) => ({ ref: `${s.name}.${o}`, producer: s.name }))),
    [steps, step.name],
  );
  const loops = useMemo(() => loopsInto(steps, step.name), [steps, step.name]);
  const rename = (from: string, to: string) => onChange(Object.fromEntries(entries.map(([k, v]) => [k === from ? to : k, v])));
  return (
    <fieldset className="rows" data-testid="field-inputs">
      <legend>Inputs</legend>
      {entries.length === 0 && <p className="muted small">None. Connect an output to this step to add one.</p>}
      {entries.map(([name, ref], i) => (
        <div className="row" key={i}>
          <input
            aria-label={`Input name ${i + 1}`}
            value={name}
            readOnly={isReadOnly}
            onChange={(e) => {
              const to = e.target.value;
              if (to && !(to in inputs)) rename(name, to);
            }}
          />
          <select
            aria-label={`Source of input ${name}`}
            value={ref}
            disabled={isReadOnly}
            onChange={(e) => onChange({ ...inputs, [name]: e.target.value })}
            data-testid={`input-source-${name}`}
          >
            <option value="">— not wired —</option>
            {!sources.some((s) => s.ref === ref) && ref && <option value={ref}>{ref} (missing)</option>}
            {sources.map(({ ref: r, producer }) => {
              const loop = loops.get(producer);
              return (
                <option key={r} value={r} disabled={loop !== null && r !== ref}>
                  {r}
                  {loop && r !== ref ? ` (would close a loop: ${loop.join(" -> ")})` : ""}
                </option>
              );
            })}
          </select>
          {!isReadOnly && (
            <button
              type="button"
              className="icon-button"
              aria-label={`Remove input ${name}`}
              onClick={() => onChange(Object.fromEntries(entries.filter(([k]) => k !== name)))}
            >
              ✕
            </button>
          )}
        </div>
      ))}
      {!isReadOnly && (
        <button type="button" className="link-button" onClick={() => onChange({ ...inputs, [uniqueName("input", Object.keys(inputs), "_")]: "" })}>
          + Add input
        </button>
      )}
    </fieldset>
  );
}

function OutputRows({
  step,
  isReadOnly,
  onChange,
  onRenameOutput,
}: {
  step: StepSpec;
  isReadOnly: boolean;
  onChange: (outputs: string[]) => void;
  onRenameOutput: (index: number, to: string) => void;
}) {
  const outputs = step.outputs ?? [];
  return (
    <fieldset className="rows" data-testid="field-outputs">
      <legend>Outputs</legend>
      {outputs.length === 0 && <p className="muted small">None.</p>}
      {outputs.map((name, i) => (
        <div className="row" key={i}>
          <input aria-label={`Output name ${i + 1}`} value={name} readOnly={isReadOnly} onChange={(e) => onRenameOutput(i, e.target.value)} />
          {!isReadOnly && (
            <button type="button" className="icon-button" aria-label={`Remove output ${name}`} onClick={() => onChange(outputs.filter((_, j) => j !== i))}>
              ✕
            </button>
          )}
        </div>
      ))}
      {!isReadOnly && (
        <button type="button" className="link-button" onClick={() => onChange([...outputs, uniqueName("output", outputs, "_")])}>
          + Add output
        </button>
      )}
    </fieldset>
  );
}
