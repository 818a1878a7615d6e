import { describe, expect, it } from "vitest";
import type { PipelineSpec, Problem, StepRun, StepSpec } from "../api/types";
import { needsLayout, parseInputRef, specEdges, specToFlow, withPositions } from "./convert";

function step(name: string, extra: Partial<StepSpec> = {}): StepSpec {
  return { name, type: "python", image: "python:3.11-slim", command: [], ...extra };
}

const digits: PipelineSpec = {
  steps: [
    step("prepare", { outputs: ["train", "test"] }),
    step("train", { inputs: { data: "prepare.train" }, outputs: ["model"] }),
    step("evaluate", { inputs: { model: "train.model", data: "prepare.test" }, depends_on: ["train"] }),
    step("report", { depends_on: ["evaluate"] }),
  ],
};

describe("parseInputRef", () => {
  it("splits a reference at the first dot", () => {
    expect(parseInputRef("prepare.train")).toEqual({ producer: "prepare", output: "train" });
    expect(parseInputRef("prepare.data.v2")).toEqual({ producer: "prepare", output: "data.v2" });
    expect(parseInputRef("prepare")).toEqual({ producer: "prepare", output: "" });
  });
});

describe("specEdges", () => {
  it("draws an edge from each producer to its consumer", () => {
    const { edges } = specEdges(digits.steps);
    expect(edges.map((e) => [e.source, e.target])).toEqual([
      ["prepare", "train"],
      ["train", "evaluate"],
      ["prepare", "evaluate"],
      ["evaluate", "report"],
    ]);
  });

  it("merges an input and a depends_on between the same steps into one labelled edge", () => {
    const { edges } = specEdges(digits.steps);
    const trainToEvaluate = edges.filter((e) => e.source === "train" && e.target === "evaluate");
    expect(trainToEvaluate).toHaveLength(1);
    expect(trainToEvaluate[0]!.data!.outputs).toEqual(["model"]);
    expect(trainToEvaluate[0]!.label).toBe("model");
  });

  it("lists several outputs of one producer on one edge", () => {
    const { edges } = specEdges([step("a"), step("b", { inputs: { x: "a.one", y: "a.two", z: "a.one" } })]);
    expect(edges).toHaveLength(1);
    expect(edges[0]!.label).toBe("one, two");
  });

  it("leaves a depends_on-only edge without a label", () => {
    const { edges } = specEdges(digits.steps);
    const last = edges.find((e) => e.target === "report")!;
    expect(last.label).toBeUndefined();
    expect(last.data!.outputs).toEqual([]);
  });

  it("reports inputs from missing producers and draws no edge for them", () => {
    const { edges, dangling } = specEdges([
      step("train", { inputs: { data: "prepare.train" }, depends_on: ["ghost"] }),
    ]);
    expect(edges).toEqual([]);
    expect(dangling).toEqual([{ step: "train", input: "data", ref: "prepare.train" }]);
  });

  it("uses producer->consumer edge ids", () => {
    const { edges } = specEdges(digits.steps);
    expect(edges[0]!.id).toBe("prepare->train");
  });
});

describe("specToFlow", () => {
  it("makes one step node per step with the step name as id", () => {
    const { nodes } = specToFlow(digits);
    expect(nodes.map((n) => n.id)).toEqual(["prepare", "train", "evaluate", "report"]);
    expect(nodes.every((n) => n.type === "step")).toBe(true);
    expect(nodes[1]!.data.step).toBe(digits.steps[1]);
  });

  it("lays out left to right when every position is the origin", () => {
    const spec = { steps: digits.steps.map((s) => ({ ...s, position: { x: 0, y: 0 } })) };
    const xs = specToFlow(spec).nodes.map((n) => n.position.x);
    expect(xs[0]).toBeLessThan(xs[1]!);
    expect(xs[1]).toBeLessThan(xs[2]!);
    expect(xs[2]).toBeLessThan(xs[3]!);
  });

  it("keeps the positions a spec carries", () => {
    const spec = { steps: [step("a", { position: { x: 10, y: 20 } }), step("b", { position: { x: 300, y: 0 } })] };
    expect(specToFlow(spec).nodes.map((n) => n.position)).toEqual([
      { x: 10, y: 20 },
      { x: 300, y: 0 },
    ]);
  });

  it("attaches problems to every step they name, and step runs by step name", () => {
    const cycle: Problem = { code: "cycle", message: "a -> b -> a", steps: ["a", "b", "a"], severity: "error", field: "" };
    const run: StepRun = {
      id: 7, step: "b", status: "running", attempt: 1, max_attempts: 1, queued_at: null,
      started_at: null, finished_at: null, exit_code: null, reason: "", node: "",
    };
    const { nodes } = specToFlow(
      { steps: [step("a"), step("b"), step("c")] },
      { problems: [cycle], stepRuns: new Map([["b", run]]) },
    );
    expect(nodes[0]!.data.problems).toEqual([cycle]);
    expect(nodes[1]!.data.problems).toEqual([cycle]);
    expect(nodes[2]!.data.problems).toBeUndefined();
    expect(nodes[1]!.data.stepRun).toBe(run);
  });

  it("draws nothing for a missing spec", () => {
    expect(specToFlow(null)).toEqual({ nodes: [], edges: [], dangling: [] });
  });
});

describe("needsLayout", () => {
  it("is true when positions are missing or all at the origin, false otherwise", () => {
    expect(needsLayout([step("a"), step("b")])).toBe(true);
    expect(needsLayout([step("a", { position: { x: 0, y: 0 } })])).toBe(true);
    expect(needsLayout([step("a", { position: { x: 0, y: 0 } }), step("b", { position: { x: 5, y: 0 } })])).toBe(false);
  });
});

describe("withPositions", () => {
  it("writes node positions back into the steps of the same name", () => {
    const spec = withPositions({ steps: [step("a"), step("b")] }, [{ id: "b", position: { x: 10.4, y: 20.6 } }]);
    expect(spec.steps[0]!.position).toBeUndefined();
    expect(spec.steps[1]!.position).toEqual({ x: 10, y: 21 });
  });
});
