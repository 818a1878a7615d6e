import { describe, expect, it } from "vitest";
import { layeredLayout, topologicalLayers } from "./layout";

const e = (source: string, target: string) => ({ source, target });

describe("topologicalLayers", () => {
  it("puts a chain one step per layer", () => {
    expect(topologicalLayers(["a", "b", "c"], [e("a", "b"), e("b", "c")])).toEqual([["a"], ["b"], ["c"]]);
  });

  it("places a step after its deepest predecessor", () => {
    // a -> b -> c, and a -> c directly: c still lands after b.
    expect(topologicalLayers(["a", "b", "c"], [e("a", "c"), e("a", "b"), e("b", "c")])).toEqual([
      ["a"],
      ["b"],
      ["c"],
    ]);
  });

  it("keeps input order inside a layer", () => {
    const ids = ["prepare", "train-b", "train-a", "evaluate"];
    const edges = [e("prepare", "train-a"), e("prepare", "train-b"), e("train-a", "evaluate"), e("train-b", "evaluate")];
    expect(topologicalLayers(ids, edges)).toEqual([["prepare"], ["train-b", "train-a"], ["evaluate"]]);
  });

  it("puts unconnected steps in the first layer", () => {
    expect(topologicalLayers(["a", "b", "c"], [e("a", "b")])).toEqual([["a", "c"], ["b"]]);
  });

  it("ignores edges to unknown steps and repeated edges", () => {
    expect(topologicalLayers(["a", "b"], [e("a", "b"), e("a", "b"), e("ghost", "a"), e("b", "ghost")])).toEqual([
      ["a"],
      ["b"],
    ]);
  });

  it("puts steps on a cycle in a last layer instead of looping", () => {
    const layers = topologicalLayers(["start", "x", "y"], [e("start", "x"), e("x", "y"), e("y", "x")]);
    expect(layers).toEqual([["start"], ["x", "y"]]);
  });

  it("returns no layers for no steps", () => {
    expect(topologicalLayers([], [])).toEqual([]);
  });
});

describe("layeredLayout", () => {
  it("sets x by layer and y by index in the layer", () => {
    const positions = layeredLayout(["a", "b", "c"], [e("a", "b"), e("a", "c")], { columnWidth: 100, rowHeight: 50 });
    expect(positions.a!.x).toBe(0);
    expect(positions.b!.x).toBe(100);
    expect(positions.c!.x).toBe(100);
    expect(positions.c!.y - positions.b!.y).toBe(50);
  });

  it("centres a short layer against the tallest one", () => {
    const positions = layeredLayout(["a", "b", "c"], [e("a", "b"), e("a", "c")], { columnWidth: 100, rowHeight: 50 });
    expect(positions.a!.y).toBe((positions.b!.y + positions.c!.y) / 2);
  });

  it("gives every step a distinct position", () => {
    const ids = ["a", "b", "c", "d", "e"];
    const positions = layeredLayout(ids, [e("a", "c"), e("b", "c"), e("c", "d")]);
    const keys = new Set(ids.map((id) => `${positions[id]!.x},${positions[id]!.y}`));
    expect(keys.size).toBe(ids.length);
  });
});
