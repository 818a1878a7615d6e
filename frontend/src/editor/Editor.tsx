// The visual editor: a palette of step templates, the canvas (React Flow), the side panel for
// the selected step, the server's checks and the versions. Edits are spec snapshots in a history
// (undo/redo); saving makes a new immutable version; unsaved changes are never lost silently.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type FinalConnectionState,
  type NodeChange,
  type OnConnectEnd,
  type XYPosition,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, errorMessage } from "../api/client";
import type { PipelineDetail, PipelineSpec, Problem, StepSpec, Team, VersionDetail } from "../api/types";
import { useApi } from "../api/useApi";
import { formatDateTime } from "../format";
import { describeLoop, wouldCloseLoop } from "../graph/cycles";
import {
  addStep,
  connect,
  copySteps,
  findStep,
  normalizeSpec,
  pasteSteps,
  placeSteps,
  removeEdges,
  removeSteps,
  renameOutput,
  renameStep,
  updateStep,
  type EdgeRef,
} from "../graph/edit";
import { editorEdges, editorNodes, type EditorEdge, type EditorNode } from "../graph/editorFlow";
import { historyReducer, initialHistory, isDirty } from "../graph/history";
import { layeredLayout } from "../graph/layout";
import { ErrorMessage } from "../ui";
import { LeaveDialog, RunDialog, SaveDialog, type RunRequest, type SaveRequest } from "./dialogs";
import { ProblemList, VersionList } from "./EditorSide";
import { Palette } from "./Palette";
import { StepPanel } from "./StepPanel";
import { editorNodeTypes } from "./StepNode";
import { templateById } from "./templates";
import { useDropFromPalette } from "./useDropFromPalette";
import { useEditorShortcuts } from "./useEditorShortcuts";
import { useUnsavedGuard } from "./useUnsavedGuard";
import { useValidation } from "./useValidation";
import "./editor.css";

export type EditorMode = "edit" | "new" | "version";

const NO_PROBLEMS: Problem[] = [];
const DELETE_KEYS = ["Delete", "Backspace"];
const FIT_VIEW_OPTIONS = { padding: 0.15, maxZoom: 1.2 };
const WRITE_ROLES = new Set(["editor", "admin"]);
/** Editor nodes are wider and taller than the read-only ones: more room between layers. */
const LAYOUT = { columnWidth: 320, rowHeight: 170 };

/** Steps as the editor holds them: every field present, and positions laid out if none are set. */
export function prepareSpec(spec: PipelineSpec | null | undefined): PipelineSpec {
  const normal = normalizeSpec(spec);
  const isUnplaced = normal.steps.length > 1 && normal.steps.every((s) => s.position!.x === 0 && s.position!.y === 0);
  if (!isUnplaced) return normal;
  return placeSteps(normal, layeredLayout(normal.steps.map((s) => s.name), editorEdges(normal.steps), LAYOUT));
}

export function EditorPage({ mode }: { mode: EditorMode }) {
  const { id = "", number = "" } = useParams();
  const [searchParams] = useSearchParams();
  const teams = useApi((signal) => api.teams({ limit: 100 }, signal), []);
  const pipeline = useApi((signal) => (mode === "new" ? Promise.resolve(null) : api.pipeline(id, signal)), [mode, id]);
  const version = useApi(
    (signal) => (mode === "version" ? api.version(id, number, signal) : Promise.resolve(null)),
    [mode, id, number],
  );

  const failed = [pipeline, version, teams].find((s) => s.error && s.data === undefined);
  if (failed) return <div className="page-pad"><ErrorMessage error={failed.error} onRetry={failed.reload} /></div>;
  // The page stays mounted from /pipelines/new to /pipelines/<id>/edit (after the first save) and
  // between versions: data loaded for the previous address must not open the editor (it would
  // open an empty canvas on the pipeline just saved).
  const isStale =
    (mode === "new" ? pipeline.data !== null : String(pipeline.data?.id) !== id) ||
    (mode === "version" && String(version.data?.number) !== number);
  if (isStale || pipeline.data === undefined || version.data === undefined || teams.data === undefined) {
    return <p className="muted page-pad">Loading the editor…</p>;
  }
  const writable = teams.data.results.filter((t) => WRITE_ROLES.has(t.role ?? ""));
  const teamId = pipeline.data ? pipeline.data.team.id : Number(searchParams.get("team")) || writable[0]?.id;
  const team = teams.data.results.find((t) => t.id === teamId) ?? null;
  if (mode === "new" && writable.length === 0) {
    return <p className="page-pad" data-testid="read-only-note">Creating a pipeline needs the editor role in one of your teams.</p>;
  }
  return (
    <ReactFlowProvider>
      <EditorView
        key={`${mode}:${id}:${number}`}
        mode={mode}
        pipeline={pipeline.data}
        version={version.data}
        team={team}
        writableTeams={writable}
        canEdit={team !== null && WRITE_ROLES.has(team.role ?? "")}
        onSaved={pipeline.reload}
      />
    </ReactFlowProvider>
  );
}

interface ViewProps {
  mode: EditorMode;
  pipeline: PipelineDetail | null;
  version: VersionDetail | null;
  team: Team | null;
  writableTeams: Team[];
  canEdit: boolean;
  onSaved: () => void;
}

interface Notice {
  kind: "error" | "info";
  text: string;
}

function EditorView({ mode, pipeline, version, team, writableTeams, canEdit, onSaved }: ViewProps) {
  const isReadOnly = !canEdit || mode === "version";
  const navigate = useNavigate();
  const [searchParams, setSearchParams] = useSearchParams();
  const flow = useReactFlow();
  const canvasRef = useRef<HTMLDivElement>(null);

  const [history, dispatch] = useReducer(historyReducer, mode === "version" ? version?.spec : pipeline?.spec, (s) =>
    initialHistory(prepareSpec(s)),
  );
  const spec = history.present;
  // Fit the view to the steps a pipeline opens with; an empty canvas stays at zoom 1, so the
  // first step dropped lands where it was dropped.
  const [hasStepsAtOpen] = useState(spec.steps.length > 0);
  const specRef = useRef(spec);
  specRef.current = spec;
  const dirty = !isReadOnly && isDirty(history);
  const { blocker, allowLeaving } = useUnsavedGuard(dirty);

  const validation = useValidation(spec);
  const problems = validation.result?.problems ?? NO_PROBLEMS;

  const [notice, setNotice] = useState<Notice | null>(null);
  useEffect(() => {
    if (!notice) return;
    const timer = window.setTimeout(() => setNotice(null), notice.kind === "error" ? 10_000 : 6_000);
    return () => window.clearTimeout(timer);
  }, [notice]);

  const edit = useCallback((next: PipelineSpec, key?: string) => dispatch({ type: "edit", spec: next, key }), []);

  // -- nodes and edges: derived from the spec, keeping what React Flow measured and selected --
  const pendingSelection = useRef<Set<string> | null>(null);
  const [nodes, setNodes] = useState<EditorNode[]>(() => editorNodes(spec, problems, { isReadOnly }));
  const [edges, setEdges] = useState<EditorEdge[]>(() => editorEdges(spec.steps));
  useEffect(() => {
    const selection = pendingSelection.current;
    pendingSelection.current = null;
    setNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      const previous = new Map(prev.map((n) => [n.id, n.data]));
      return editorNodes(spec, problems, { isReadOnly, previous }).map((n) => {
        const was = old.get(n.id);
        const selected = selection ? selection.has(n.id) : (was?.selected ?? false);
        const position = was?.dragging ? was.position : n.position;
        if (was && was.data === n.data && was.position.x === position.x && was.position.y === position.y && !!was.selected === selected) {
          return was;
        }
        return { ...n, position, selected, measured: was?.measured, dragging: was?.dragging };
      });
    });
  }, [spec, problems, isReadOnly]);
  useEffect(() => {
    setEdges((prev) => {
      const selected = new Set(prev.filter((e) => e.selected).map((e) => e.id));
      return editorEdges(spec.steps).map((e) => (selected.has(e.id) ? { ...e, selected: true } : e));
    });
  }, [spec]);

  const onNodesChange = useCallback(
    (changes: NodeChange<EditorNode>[]) => {
      // Removal goes through onDelete, as an edit of the spec.
      const kept = changes.filter((c) => c.type !== "remove" && c.type !== "add" && c.type !== "replace");
      if (kept.length) setNodes((ns) => applyNodeChanges(kept, ns));
      // A move that is over (the end of a drag, or an arrow key on selected steps) is an edit;
      // the frames of a drag in progress are not (they would re-validate and fill the history).
      const placed = changes.flatMap((c) => (c.type === "position" && c.dragging === false && c.position ? [[c.id, c.position] as const] : []));
      if (placed.length) edit(placeSteps(specRef.current, Object.fromEntries(placed)));
    },
    [edit],
  );
  const onEdgesChange = useCallback((changes: EdgeChange<EditorEdge>[]) => {
    const kept = changes.filter((c) => c.type === "select");
    if (kept.length) setEdges((es) => applyEdgeChanges(kept, es));
  }, []);

  // Fit once the opening steps are measured (React Flow's own fitView may run before that).
  const nodesInitialized = useNodesInitialized();
  const hasFitted = useRef(!hasStepsAtOpen);
  useEffect(() => {
    if (!nodesInitialized || hasFitted.current) return;
    hasFitted.current = true;
    void flow.fitView(FIT_VIEW_OPTIONS);
  }, [nodesInitialized, flow]);

  // The selection as a stable array: a drag gives new node objects every frame, and what
  // depends on the selection (the side panel) must not render again for it.
  const selectionKey = nodes.filter((n) => n.selected).map((n) => n.id).join("\u0000");
  const selectedNames = useMemo(() => (selectionKey ? selectionKey.split("\u0000") : []), [selectionKey]);
  const selectedStep = selectedNames.length === 1 ? findStep(spec, selectedNames[0]!) : undefined;
  const selectOnly = useCallback((names: Set<string>) => {
    setNodes((ns) => ns.map((n) => (!!n.selected === names.has(n.id) ? n : { ...n, selected: names.has(n.id) })));
  }, []);

  // -- edits ------------------------------------------------------------------------------
  const placeCount = useRef(0);
  const addTemplate = useCallback(
    (templateId: string, position?: XYPosition) => {
      const template = templateById(templateId);
      if (!template || isReadOnly) return;
      let at = position;
      if (!at) {
        const box = canvasRef.current?.getBoundingClientRect();
        const centre = flow.screenToFlowPosition({ x: (box?.left ?? 0) + (box?.width ?? 600) / 2, y: (box?.top ?? 0) + (box?.height ?? 400) / 2 });
        const nudge = (placeCount.current++ % 6) * 30;
        at = { x: centre.x - 100 + nudge, y: centre.y - 40 + nudge };
      }
      const { spec: next, name } = addStep(specRef.current, template.step, at);
      pendingSelection.current = new Set([name]);
      edit(next);
    },
    [edit, flow, isReadOnly],
  );
  const drop = useDropFromPalette(addTemplate, !isReadOnly);

  const onDelete = useCallback(
    ({ nodes: gone, edges: cut }: { nodes: EditorNode[]; edges: EditorEdge[] }) => {
      const removed = new Set(gone.map((n) => n.id));
      const refs = cut
        .filter((e) => !removed.has(e.source) && !removed.has(e.target))
        .map((e) => e.data?.ref)
        .filter((r): r is EdgeRef => r !== undefined);
      edit(removeEdges(removeSteps(specRef.current, removed), refs));
    },
    [edit],
  );

  const tryConnect = useCallback(
    (request: Connection | { source: string; sourceHandle: string | null; target: string; targetHandle: null }) => {
      const result = connect(specRef.current, request);
      if (result.error !== null) setNotice({ kind: "error", text: result.error });
      else if (result.spec !== specRef.current) {
        setNotice(null);
        edit(result.spec);
      }
    },
    [edit],
  );

  const isValidConnection = useCallback(
    (c: { source: string; target: string }) => c.source !== c.target && wouldCloseLoop(specRef.current.steps, c.source, c.target) === null,
    [],
  );

  const onConnectEnd: OnConnectEnd = useCallback(
    (event: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      const from = state.fromNode?.id;
      const fromHandle = state.fromHandle;
      if (!from || !fromHandle) return;
      if (state.toNode && state.toHandle) {
        if (state.isValid !== false) return; // onConnect made it
        const [source, target] = fromHandle.type === "source" ? [from, state.toNode.id] : [state.toNode.id, from];
        const loop = wouldCloseLoop(specRef.current.steps, source, target);
        setNotice({ kind: "error", text: loop ? describeLoop(loop) : "a step cannot feed itself" });
        return;
      }
      // Dropped on a step but not on one of its inputs: wire to a new input named after the output.
      if (fromHandle.type !== "source") return;
      const point = "changedTouches" in event ? event.changedTouches[0] : event;
      if (!point) return;
      const target = document.elementFromPoint(point.clientX, point.clientY)?.closest(".react-flow__node")?.getAttribute("data-id");
      if (!target || target === from) return;
      tryConnect({ source: from, sourceHandle: fromHandle.id ?? null, target, targetHandle: null });
    },
    [tryConnect],
  );

  const clipboard = useRef<StepSpec[]>([]);
  const copy = useCallback(() => {
    if (selectedNames.length === 0) return;
    clipboard.current = copySteps(specRef.current, new Set(selectedNames));
    setNotice({ kind: "info", text: `Copied ${selectedNames.length} step${selectedNames.length > 1 ? "s" : ""}.` });
  }, [selectedNames]);
  const paste = useCallback(() => {
    if (isReadOnly || clipboard.current.length === 0) return;
    const { spec: next, names } = pasteSteps(specRef.current, clipboard.current);
    clipboard.current = copySteps(next, new Set(names)); // a second paste lands further along
    pendingSelection.current = new Set(names);
    edit(next);
  }, [edit, isReadOnly]);

  const arrange = useCallback(() => {
    const steps = specRef.current.steps;
    edit(placeSteps(specRef.current, layeredLayout(steps.map((s) => s.name), editorEdges(steps), LAYOUT)));
    window.setTimeout(() => void flow.fitView({ ...FIT_VIEW_OPTIONS, duration: 200 }), 50);
  }, [edit, flow]);

  // -- save, restore, run ------------------------------------------------------------------
  const [dialog, setDialog] = useState<"save" | "run" | null>(null);
  // The version this work builds on. A newer one saved meanwhile (by a colleague, in another tab)
  // is named before this save supersedes it; saving again confirms.
  const baseVersion = useRef<number | null>(pipeline?.latest_version?.number ?? null);
  const supersedes = useRef<number | null>(null);
  const save = async (request: SaveRequest) => {
    const sent = specRef.current;
    if (mode === "new") {
      const created = await api.createPipeline({ team: request.team!, name: request.name!, spec: sent, message: request.message });
      dispatch({ type: "saved", spec: sent });
      allowLeaving();
      navigate(`/pipelines/${created.id}/edit`, { replace: true });
      return;
    }
    const newest = (await api.pipeline(pipeline!.id)).latest_version;
    if (newest && baseVersion.current !== null && newest.number > baseVersion.current && supersedes.current !== newest.number) {
      supersedes.current = newest.number;
      onSaved(); // the version list shows it
      throw new Error(
        `${newest.created_by ?? "Someone"} saved version ${newest.number} on ${formatDateTime(newest.created_at)}, ` +
          `after the version you started from (${baseVersion.current}). Save again to make your changes the newest ` +
          `version (theirs stays in the version list), or cancel and open version ${newest.number} first.`,
      );
    }
    const saved = await api.saveVersion(pipeline!.id, { spec: sent, message: request.message });
    baseVersion.current = saved.number;
    supersedes.current = null;
    dispatch({ type: "saved", spec: sent });
    setDialog(null);
    setNotice({ kind: "info", text: `Saved version ${saved.number}.` });
    onSaved();
  };

  const restore = useCallback(
    async (number: number) => {
      if (!pipeline) return;
      try {
        const v = await api.version(pipeline.id, number);
        edit(prepareSpec(v.spec));
        setNotice({ kind: "info", text: `Version ${number} restored as unsaved changes: save to make it the newest version.` });
      } catch (err) {
        setNotice({ kind: "error", text: errorMessage(err) });
      }
    },
    [edit, pipeline],
  );
  const restoreParam = searchParams.get("restore");
  useEffect(() => {
    if (!restoreParam || isReadOnly) return;
    setSearchParams({}, { replace: true });
    void restore(Number(restoreParam));
  }, [restoreParam, isReadOnly, restore, setSearchParams]);

  const run = async (request: RunRequest) => {
    const created = await api.submitRun({ pipeline: pipeline!.id, parameters: request.parameters, priority: request.priority });
    navigate(`/runs/${created.id}`);
  };

  const latest = pipeline?.latest_version?.number ?? null;
  const runBlockedBy = !latest ? "Save the pipeline first." : dirty ? "Save your changes first: a run uses a saved version." : null;

  useEditorShortcuts({
    save: () => !isReadOnly && (dirty || mode === "new") && setDialog("save"),
    undo: () => !isReadOnly && dispatch({ type: "undo" }),
    redo: () => !isReadOnly && dispatch({ type: "redo" }),
    copy,
    paste,
  });

  const stepProblems = useMemo(
    () => (selectedStep ? problems.filter((p) => p.steps.includes(selectedStep.name)) : NO_PROBLEMS),
    [problems, selectedStep],
  );

  // Memoised: a drag re-renders the editor every frame; the panel (a thousand input sources on
  // a big pipeline) has nothing new to show then.
  const sidePanel = useMemo(
    () => (
      <aside className="side-panel editor-side" data-testid="side-panel">
        {selectedStep ? (
          <StepPanel
            key={selectedStep.name}
            step={selectedStep}
            steps={spec.steps}
            problems={stepProblems}
            isReadOnly={isReadOnly}
            onPatch={(patch, field) => edit(updateStep(specRef.current, selectedStep.name, patch), `${selectedStep.name}:${field}`)}
            onRename={(to) => {
              const result = renameStep(specRef.current, selectedStep.name, to);
              if (result.error !== null) return result.error;
              pendingSelection.current = new Set([to]);
              edit(result.spec);
              return null;
            }}
            onRenameOutput={(index, to) => edit(renameOutput(specRef.current, selectedStep.name, index, to), `${selectedStep.name}:outputs`)}
            onDelete={() => edit(removeSteps(specRef.current, new Set([selectedStep.name])))}
            onClose={() => selectOnly(new Set())}
          />
        ) : (
          <>
            {selectedNames.length > 1 && (
              <p className="muted" data-testid="multi-selection">
                {selectedNames.length} steps selected. Delete removes them; Ctrl+C copies them.
              </p>
            )}
            <ProblemList
              problems={validation.result?.problems ?? null}
              error={validation.error}
              isChecking={validation.isChecking}
              onSelect={(name) => selectOnly(new Set([name]))}
            />
            {pipeline && (
              <VersionList
                pipelineId={pipeline.id}
                versions={pipeline.versions}
                current={mode === "version" ? (version?.number ?? null) : latest}
                canRestore={canEdit}
                onRestore={(n) => (mode === "version" ? navigate(`/pipelines/${pipeline.id}/edit?restore=${n}`) : void restore(n))}
              />
            )}
            <p className="muted small shortcuts">
              Select a step to edit it. Shift-drag selects several; Ctrl+C / Ctrl+V copy and paste; Delete removes; Ctrl+Z /
              Ctrl+Shift+Z undo and redo; Ctrl+S saves.
            </p>
          </>
        )}
      </aside>
    ),
    // The callbacks read specRef, so `spec` itself is not a dependency.
    [selectedStep, spec.steps, stepProblems, isReadOnly, edit, selectOnly, selectedNames.length, validation.result,
     validation.error, validation.isChecking, pipeline, mode, version, latest, canEdit, navigate, restore],
  );

  const title = pipeline ? pipeline.name : "New pipeline";
  return (
    <div className="editor-page" data-testid="editor" data-dirty={dirty ? "true" : "false"} data-mode={mode}>
      <header className="editor-header">
        <div className="editor-title">
          <nav className="crumbs">
            <Link to="/">Pipelines</Link> /{pipeline && <> <Link to={`/pipelines/${pipeline.id}`}>{pipeline.name}</Link> /</>}
          </nav>
          <h1>
            {mode === "version" ? `${title}, version ${version?.number}` : title}
            {dirty && (
              <span className="unsaved" data-testid="dirty-state">
                unsaved changes
              </span>
            )}
          </h1>
          <p className="muted small">
            Team {team?.display_name || team?.name || pipeline?.team.name}
            {mode === "version" && version && ` · saved by ${version.created_by ?? "someone"} on ${formatDateTime(version.created_at)} · read-only`}
            {mode !== "version" && latest !== null && ` · latest version ${latest}`}
          </p>
        </div>
        <div className="editor-toolbar" role="toolbar" aria-label="Editor">
          {!isReadOnly && (
            <>
              <button type="button" onClick={() => dispatch({ type: "undo" })} disabled={history.past.length === 0} title="Undo (Ctrl+Z)" data-testid="undo">
                Undo
              </button>
              <button type="button" onClick={() => dispatch({ type: "redo" })} disabled={history.future.length === 0} title="Redo (Ctrl+Shift+Z)" data-testid="redo">
                Redo
              </button>
              <button type="button" onClick={arrange} title="Lay the steps out left to right" data-testid="auto-layout">
                Arrange
              </button>
            </>
          )}
          <button type="button" onClick={() => void flow.fitView({ ...FIT_VIEW_OPTIONS, duration: 200 })} data-testid="fit-view">
            Fit view
          </button>
          {mode === "version" && canEdit && pipeline && (
            <button type="button" className="primary" onClick={() => navigate(`/pipelines/${pipeline.id}/edit?restore=${version?.number}`)} data-testid="restore-this-version">
              Restore this version
            </button>
          )}
          {mode === "version" && pipeline && (
            <Link className="button-link" to={canEdit ? `/pipelines/${pipeline.id}/edit` : `/pipelines/${pipeline.id}`}>
              Back to the latest
            </Link>
          )}
          {!isReadOnly && (
            <>
              <button type="button" onClick={() => setDialog("save")} disabled={!dirty && mode !== "new"} title="Save a new version (Ctrl+S)" data-testid="save-pipeline">
                Save
              </button>
              {mode === "edit" && (
                <button
                  type="button"
                  className="primary"
                  onClick={() => setDialog("run")}
                  disabled={runBlockedBy !== null}
                  title={runBlockedBy ?? "Run the latest version"}
                  data-testid="editor-run"
                >
                  Run
                </button>
              )}
            </>
          )}
          {isReadOnly && mode !== "version" && (
            <span className="muted small" data-testid="read-only-note">
              Read-only: editing needs the editor role in this team.
            </span>
          )}
        </div>
      </header>

      <div className={`editor-body ${isReadOnly ? "is-read-only" : ""}`}>
        {!isReadOnly && <Palette onAdd={addTemplate} />}
        <div className="editor-canvas dag" ref={canvasRef} onDragOver={drop.onDragOver} onDrop={drop.onDrop} data-testid="canvas">
          {notice && (
            <p className={`canvas-notice notice-${notice.kind}`} role={notice.kind === "error" ? "alert" : "status"} data-testid="editor-notice" data-kind={notice.kind}>
              {notice.text}
              <button type="button" className="link-button" onClick={() => setNotice(null)} aria-label="Dismiss">
                ✕
              </button>
            </p>
          )}
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={editorNodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={tryConnect}
            onConnectEnd={onConnectEnd}
            isValidConnection={isValidConnection}
            onDelete={onDelete}
            nodesDraggable={!isReadOnly}
            nodesConnectable={!isReadOnly}
            elementsSelectable
            deleteKeyCode={isReadOnly ? null : DELETE_KEYS}
            fitViewOptions={FIT_VIEW_OPTIONS}
            minZoom={0.1}
            maxZoom={2}
          >
            <Background gap={20} size={1} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable ariaLabel="Minimap" />
          </ReactFlow>
          {spec.steps.length === 0 && (
            <p className="canvas-empty muted">{isReadOnly ? "No steps." : "Drag a step from the palette, or press one to add it."}</p>
          )}
        </div>
        {sidePanel}
      </div>

      {dialog === "save" && (
        <SaveDialog isNew={mode === "new"} teams={writableTeams} defaultTeam={team?.id ?? null} onSave={save} onClose={() => setDialog(null)} />
      )}
      {dialog === "run" && latest !== null && <RunDialog version={latest} onRun={run} onClose={() => setDialog(null)} />}
      {blocker.state === "blocked" && <LeaveDialog onStay={() => blocker.reset()} onLeave={() => blocker.proceed()} />}
    </div>
  );
}
