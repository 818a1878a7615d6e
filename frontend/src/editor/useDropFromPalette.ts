// HTML5 drag and drop from the palette onto the canvas: the palette puts a template id on the
// DataTransfer; a drop places that template where the pointer is, in flow coordinates.
import { useReactFlow, type XYPosition } from "@xyflow/react";
import { useCallback, type DragEvent } from "react";

export const TEMPLATE_MIME = "application/x-trellis-template";

/** Start a palette drag (the palette's onDragStart). */
export function startTemplateDrag(event: DragEvent, templateId: string): void {
  event.dataTransfer.setData(TEMPLATE_MIME, templateId);
  event.dataTransfer.setData("text/plain", templateId);
  event.dataTransfer.effectAllowed = "copy";
}

export function useDropFromPalette(onDropTemplate: (templateId: string, position: XYPosition) => void, isEnabled: boolean) {
  const { screenToFlowPosition } = useReactFlow();

  const onDragOver = useCallback(
    (event: DragEvent) => {
      if (!isEnabled || !event.dataTransfer.types.includes(TEMPLATE_MIME)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    },
    [isEnabled],
  );

  const onDrop = useCallback(
    (event: DragEvent) => {
      if (!isEnabled) return;
      const id = event.dataTransfer.getData(TEMPLATE_MIME);
      if (!id) return;
      event.preventDefault();
      // The node's top-left corner goes a little up-left of the pointer, so it lands under it.
      const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      onDropTemplate(id, { x: at.x - 100, y: at.y - 20 });
    },
    [isEnabled, onDropTemplate, screenToFlowPosition],
  );

  return { onDragOver, onDrop };
}
