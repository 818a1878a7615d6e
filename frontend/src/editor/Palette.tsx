// Step templates to drag onto the canvas; click (or Enter) adds one for keyboard users.
import { memo } from "react";
import { STEP_TEMPLATES } from "./templates";
import { startTemplateDrag } from "./useDropFromPalette";

function PaletteView({ onAdd }: { onAdd: (templateId: string) => void }) {
  return (
    <nav className="palette" aria-label="Step templates" data-testid="palette">
      <h2>Steps</h2>
      <p className="muted small">Drag onto the canvas, or press to add.</p>
      <ul>
        {STEP_TEMPLATES.map((t) => (
          <li key={t.id}>
            <button
              type="button"
              draggable
              className={`palette-item type-${t.id}`}
              onDragStart={(event) => startTemplateDrag(event, t.id)}
              onClick={() => onAdd(t.id)}
              data-testid={`palette-${t.id}`}
              title={t.description}
            >
              <span className="palette-label">{t.label}</span>
              <span className="palette-description muted small">{t.description}</span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export const Palette = memo(PaletteView);
