import { describe, expect, it } from "vitest";
import type { PipelineSpec, Problem, StepSpec } from "../api/types";
import { normalizeStep } from "./edit";
import { editorEdges, editorNodes, flowToSpec } from "./editorFlow";

function step(name: string, extra: Partial<StepSpec> = {}): StepSpec {
  return normalizeStep({ name, type: "python", image: "python:3.11-slim", command: ["true"], ...extra });
}

const spec: PipelineSpec = {
  steps: [
    step("prepare", { outputs: ["train", "test"], position: { x: 0, y: 0 } }),
    step("fit", { inputs: { data: "prepare.train" }, outputs: ["model"], position: { x: 250, y: 0 } }),
    step("score", {
      inputs: { model: "fit.model", data: "prepare.test", later: "" },
      depends_on: ["fit"],
      position: { x: 500, y: 0 },
    }),
  ],
};

describe("editorEdges", () => {
  it("draws one edge per wired input, from the output's handle to the input's handle", () => {
    const edges = editorEdges(spec.steps);
    expect(edges.map((e) => [e.source, e.sourceHandle, e.target, e.targetHandle])).toEqual([
      ["prepare", "out:train", "fit", "in:data"],
      ["fit", "out:model", "score", "in:model"],
      ["prepare", "out:test", "score", "in:data"],
      ["fit", "out:*", "score", "in:*"],
    ]);
  });

  it("marks an input naming an output the producer lacks as broken, on the generic handle", () => {
    const [edge] = editorEdges([step("a"), step("b", { inputs: { x: "a.nope" } })]);
    expect(edge!.sourceHandle).toBe("out:*");
    expect(edge!.data!.isBroken).toBe(true);
  });
});

describe("editorNodes", () => {
  it("makes one node per step, id = step name, at the step's position", () => {
    const nodes = editorNodes(spec);
    expect(nodes.map((n) => [n.id, n.position.x])).toEqual([["prepare", 0], ["fit", 250], ["score", 500]]);
  });

  it("lays the steps out when none has a position", () => {
    const nodes = editorNodes({ steps: spec.steps.map((s) => ({ ...s, position: { x: 0, y: 0 } })) });
    expect(nodes[0]!.position.x).toBeLessThan(nodes[1]!.position.x);
    expect(nodes[1]!.position.x).toBeLessThan(nodes[2]!.position.x);
  });

  it("attaches problems to the steps they name and reuses unchanged node data", () => {
    const problem: Problem = { code: "invalid_resources", message: "cpu must be > 0", steps: ["fit"], severity: "error", field: "" };
    const first = editorNodes(spec, [problem]);
    expect(first[1]!.data.problems).toEqual([problem]);
    const previous = new Map(first.map((n) => [n.id, n.data]));
    const second = editorNodes(spec, [{ ...problem }], { previous });
    expect(second.every((n, i) => n.data === first[i]!.data)).toBe(true);
    const third = editorNodes(spec, [], { previous });
    expect(third[0]!.data).toBe(first[0]!.data);
    expect(third[1]!.data).not.toBe(first[1]!.data);
  });
});

describe("flowToSpec", () => {
  it("gives back the spec that nodes and edges were drawn from", () => {
    expect(flowToSpec(editorNodes(spec), editorEdges(spec.steps))).toEqual(spec);
  });

  it("takes wiring from the edges and positions from the nodes", () => {
    const nodes = editorNodes(spec).map((n) => (n.id === "fit" ? { ...n, position: { x: 300.4, y: 9.6 } } : n));
    const edges = editorEdges(spec.steps).filter((e) => e.id !== "in:score:data");
    const out = flowToSpec(nodes, edges);
    expect(out.steps[1]!.position).toEqual({ x: 300, y: 10 });
    expect(out.steps[2]!.inputs).toEqual({ model: "fit.model", data: "", later: "" });
  });

  it("keeps a reference to a step that is not drawn, for the server to report", () => {
    const lonely = { steps: [step("b", { inputs: { x: "ghost.out" }, depends_on: ["ghost"] })] };
    expect(flowToSpec(editorNodes(lonely), editorEdges(lonely.steps))).toEqual(lonely);
  });
});
