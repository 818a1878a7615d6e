// Small controlled fields for the side panel. Each keeps what the user is typing as a draft and
// reports a value only when it parses; a change from outside (undo) replaces the draft.
import { useId, useState, type ReactNode } from "react";
import { parseCommand } from "../graph/command";

/** A draft (text, rows) for `value` that follows `value` when it changes from outside. */
export function useDraft<T, D = string>(value: T, toText: (v: T) => D, matches: (draft: D, v: T) => boolean) {
  const [text, setText] = useState<D>(() => toText(value));
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    setSeen(value);
    if (!matches(text, value)) setText(toText(value));
  }
  return [text, setText] as const;
}

export function Field({ label, children, hint, error }: { label: string; children: ReactNode; hint?: string; error?: string | null }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {hint && <span className="field-hint muted small">{hint}</span>}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

interface NumberFieldProps {
  label: string;
  value: number;
  onChange: (value: number) => void;
  step?: number;
  min?: number;
  isReadOnly?: boolean;
  testId?: string;
}

export function NumberField({ label, value, onChange, step = 1, min, isReadOnly, testId }: NumberFieldProps) {
  const [text, setText] = useDraft(value, String, (t, v) => Number(t) === v);
  const isBad = text.trim() === "" || !Number.isFinite(Number(text));
  return (
    <Field label={label} error={isBad ? "a number, please" : null}>
      <input
        type="number"
        inputMode="decimal"
        step={step}
        min={min}
        value={text}
        readOnly={isReadOnly}
        data-testid={testId}
        onChange={(event) => {
          setText(event.target.value);
          const n = Number(event.target.value);
          if (event.target.value.trim() !== "" && Number.isFinite(n)) onChange(n);
        }}
      />
    </Field>
  );
}

export function CommandField({ value, onChange, isReadOnly }: { value: string[]; onChange: (argv: string[]) => void; isReadOnly?: boolean }) {
  const id = useId();
  const [text, setText] = useDraft(
    value,
    (v) => v.join("\n"),
    (t, v) => {
      const parsed = parseCommand(t).argv;
      return parsed !== null && parsed.length === v.length && parsed.every((a, i) => a === v[i]);
    },
  );
  const parsed = parseCommand(text);
  return (
    <Field
      label="Command"
      hint="One argument per line, or one shell-like line (quotes group words; nothing is run by a shell)."
      error={parsed.error}
    >
      <textarea
        id={id}
        rows={3}
        spellCheck={false}
        className="mono"
        value={text}
        readOnly={isReadOnly}
        data-testid="field-command"
        onChange={(event) => {
          setText(event.target.value);
          const next = parseCommand(event.target.value);
          if (next.argv) onChange(next.argv);
        }}
      />
      {parsed.argv && parsed.argv.length > 0 && (
        <span className="argv muted small" data-testid="command-argv">
          {parsed.argv.map((a, i) => (
            <code key={i}>{a}</code>
          ))}
        </span>
      )}
    </Field>
  );
}

export type Row = [string, string];

function sameRows(rows: readonly Row[], value: Record<string, string>): boolean {
  const kept = rows.filter(([k]) => k !== "");
  const entries = Object.entries(value);
  return kept.length === entries.length && kept.every(([k, v], i) => entries[i]![0] === k && entries[i]![1] === v);
}

/**
 * Rows of key and value for an object (env, parameters). Rows with an empty key are kept on
 * screen but not reported; a repeated key is flagged and only its first row counts.
 */
export function KeyValueRows({
  label,
  value,
  onChange,
  isReadOnly,
  keyPlaceholder = "NAME",
  valuePlaceholder = "value",
  testId,
}: {
  label: string;
  value: Record<string, string>;
  onChange: (value: Record<string, string>) => void;
  isReadOnly?: boolean;
  keyPlaceholder?: string;
  valuePlaceholder?: string;
  testId: string;
}) {
  const [rows, setRows] = useDraft<Record<string, string>, Row[]>(value, (v) => Object.entries(v), sameRows);
  const update = (next: Row[]) => {
    setRows(next);
    const out: Record<string, string> = {};
    for (const [k, v] of next) if (k !== "" && !(k in out)) out[k] = v;
    onChange(out);
  };
  const seen = new Set<string>();
  return (
    <fieldset className="rows" data-testid={testId}>
      <legend>{label}</legend>
      {rows.length === 0 && <p className="muted small">None.</p>}
      {rows.map(([k, v], i) => {
        const isRepeat = k !== "" && seen.has(k);
        seen.add(k);
        return (
          <div className="row" key={i}>
            <input
              aria-label={`${label} name ${i + 1}`}
              placeholder={keyPlaceholder}
              value={k}
              readOnly={isReadOnly}
              className={isRepeat ? "is-invalid" : ""}
              title={isRepeat ? "repeated: only the first counts" : undefined}
              onChange={(event) => update(rows.map((r, j) => (j === i ? [event.target.value, r[1]] : r)))}
            />
            <input
              aria-label={`${label} value ${i + 1}`}
              placeholder={valuePlaceholder}
              value={v}
              readOnly={isReadOnly}
              onChange={(event) => update(rows.map((r, j) => (j === i ? [r[0], event.target.value] : r)))}
            />
            {!isReadOnly && (
              <button type="button" className="icon-button" aria-label={`Remove ${label} ${k || i + 1}`} onClick={() => update(rows.filter((_, j) => j !== i))}>
                ✕
              </button>
            )}
          </div>
        );
      })}
      {!isReadOnly && (
        <button type="button" className="link-button" onClick={() => setRows([...rows, ["", ""]])} data-testid={`${testId}-add`}>
          + Add
        </button>
      )}
    </fieldset>
  );
}
