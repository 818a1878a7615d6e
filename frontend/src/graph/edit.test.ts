import { describe, expect, it } from "vitest";
import type { PipelineSpec, StepSpec } from "../api/types";
import {
  addStep,
  connect,
  copySteps,
  normalizeStep,
  pasteSteps,
  placeSteps,
  removeEdges,
  removeSteps,
  renameOutput,
  renameStep,
  uniqueName,
} from "./edit";

function step(name: string, extra: Partial<StepSpec> = {}): StepSpec {
  return normalizeStep({ name, type: "python", image: "python:3.11-slim", command: ["true"], ...extra });
}

const pipeline: PipelineSpec = {
  steps: [
    step("prepare", { outputs: ["dataset"] }),
    step("train", { inputs: { dataset: "prepare.dataset" }, outputs: ["model"] }),
    step("evaluate", { inputs: { model: "train.model", data: "prepare.dataset" }, depends_on: ["train"] }),
  ],
};

describe("uniqueName", () => {
  it("numbers a name that is taken", () => {
    expect(uniqueName("train", ["prepare"])).toBe("train");
    expect(uniqueName("train", ["train", "train-2"])).toBe("train-3");
    expect(uniqueName("model", ["model"], "_")).toBe("model_2");
  });
});

describe("renameStep", () => {
  it("renames the step and rewires every input and depends_on naming it", () => {
    const { spec } = renameStep(pipeline, "train", "fit");
    expect(spec!.steps.map((s) => s.name)).toEqual(["prepare", "fit", "evaluate"]);
    expect(spec!.steps[2]!.inputs).toEqual({ model: "fit.model", data: "prepare.dataset" });
    expect(spec!.steps[2]!.depends_on).toEqual(["fit"]);
  });

  it("leaves untouched steps as the same objects", () => {
    const { spec } = renameStep(pipeline, "evaluate", "score");
    expect(spec!.steps[0]).toBe(pipeline.steps[0]);
    expect(spec!.steps[1]).toBe(pipeline.steps[1]);
  });

  it("refuses a name another step has", () => {
    expect(renameStep(pipeline, "train", "prepare")).toEqual({ spec: null, error: "there is already a step named prepare" });
  });
});

describe("renameOutput", () => {
  it("rewires the consumers of the renamed output", () => {
    const spec = renameOutput(pipeline, "prepare", 0, "rows");
    expect(spec.steps[0]!.outputs).toEqual(["rows"]);
    expect(spec.steps[1]!.inputs).toEqual({ dataset: "prepare.rows" });
    expect(spec.steps[2]!.inputs!.data).toBe("prepare.rows");
  });
});

describe("connect", () => {
  const loose: PipelineSpec = {
    steps: [step("a", { outputs: ["x"] }), step("b", { inputs: { x: "" }, outputs: ["y"] }), step("c")],
  };

  it("wires an output to a named input", () => {
    const { spec } = connect(loose, { source: "a", sourceHandle: "out:x", target: "b", targetHandle: "in:x" });
    expect(spec!.steps[1]!.inputs).toEqual({ x: "a.x" });
  });

  it("creates an input named after the output when dropped on the step", () => {
    const { spec } = connect(loose, { source: "b", sourceHandle: "out:y", target: "c", targetHandle: null });
    expect(spec!.steps[2]!.inputs).toEqual({ y: "b.y" });
    const again = connect(spec!, { source: "a", sourceHandle: "out:x", target: "c", targetHandle: "in:*" });
    expect(again.spec!.steps[2]!.inputs).toEqual({ y: "b.y", x: "a.x" });
  });

  it("names a new input apart from one that is already wired elsewhere", () => {
    const spec: PipelineSpec = { steps: [step("a", { outputs: ["x"] }), step("z", { outputs: ["x"] }), step("c", { inputs: { x: "z.x" } })] };
    expect(connect(spec, { source: "a", sourceHandle: "out:x", target: "c" }).spec!.steps[2]!.inputs).toEqual({ x: "z.x", x_2: "a.x" });
  });

  it("adds a depends_on from the generic 'after' handle", () => {
    const { spec } = connect(loose, { source: "a", sourceHandle: "out:*", target: "c", targetHandle: "in:*" });
    expect(spec!.steps[2]!.depends_on).toEqual(["a"]);
  });

  it("refuses a connection that closes a loop, naming it", () => {
    const wired = connect(loose, { source: "a", sourceHandle: "out:x", target: "b", targetHandle: "in:x" }).spec!;
    const chained = connect(wired, { source: "b", sourceHandle: "out:*", target: "c" }).spec!;
    expect(connect(chained, { source: "c", sourceHandle: "out:*", target: "a" })).toEqual({
      spec: null,
      error: "would close a loop: c -> a -> b -> c",
    });
  });
});

describe("removeSteps and removeEdges", () => {
  it("unwires inputs fed by a removed step and drops depends_on naming it", () => {
    const spec = removeSteps(pipeline, new Set(["train"]));
    expect(spec.steps.map((s) => s.name)).toEqual(["prepare", "evaluate"]);
    expect(spec.steps[1]!.inputs).toEqual({ model: "", data: "prepare.dataset" });
    expect(spec.steps[1]!.depends_on).toEqual([]);
  });

  it("unwires an input edge and removes a dependency edge", () => {
    const spec = removeEdges(pipeline, [
      { kind: "input", target: "evaluate", input: "data" },
      { kind: "dependency", source: "train", target: "evaluate" },
    ]);
    expect(spec.steps[2]!.inputs).toEqual({ model: "train.model", data: "" });
    expect(spec.steps[2]!.depends_on).toEqual([]);
  });
});

describe("copy and paste", () => {
  it("pastes renamed copies, rewiring between copies and keeping wiring to the rest", () => {
    const clip = copySteps(pipeline, new Set(["train", "evaluate"]));
    const { spec, names } = pasteSteps(pipeline, clip);
    expect(names).toEqual(["train-copy", "evaluate-copy"]);
    const evaluateCopy = spec.steps[4]!;
    expect(evaluateCopy.inputs).toEqual({ model: "train-copy.model", data: "prepare.dataset" });
    expect(evaluateCopy.depends_on).toEqual(["train-copy"]);
    expect(spec.steps[3]!.inputs).toEqual({ dataset: "prepare.dataset" });
    expect(spec.steps[3]!.position).toEqual({ x: 40, y: 40 });
  });

  it("numbers a second paste of the same step", () => {
    const clip = copySteps(pipeline, new Set(["prepare"]));
    const once = pasteSteps(pipeline, clip).spec;
    expect(pasteSteps(once, clip).names).toEqual(["prepare-copy-2"]);
  });

  it("does not share objects between the clipboard and the spec", () => {
    const clip = copySteps(pipeline, new Set(["train"]));
    clip[0]!.outputs!.push("changed");
    expect(pipeline.steps[1]!.outputs).toEqual(["model"]);
  });
});

describe("addStep and placeSteps", () => {
  it("adds a step from a template under a free name at a rounded position", () => {
    const { spec, name } = addStep(pipeline, step("train"), { x: 10.4, y: 3.6 });
    expect(name).toBe("train-2");
    expect(spec.steps[3]!.position).toEqual({ x: 10, y: 4 });
  });

  it("moves only the steps given a new position", () => {
    const spec = placeSteps(pipeline, { train: { x: 250, y: 0 } });
    expect(spec.steps[1]!.position).toEqual({ x: 250, y: 0 });
    expect(spec.steps[0]).toBe(pipeline.steps[0]);
  });

  it("gives back the same spec when no step moves, so a drag back to the start is no edit", () => {
    const placed = placeSteps(pipeline, { train: { x: 250, y: 0 } });
    expect(placeSteps(placed, { train: { x: 250.2, y: -0.3 } })).toBe(placed);
    expect(placeSteps(placed, {})).toBe(placed);
  });
});
