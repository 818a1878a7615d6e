import { describe, expect, it } from "vitest";
import { safeNext } from "./useSession";

describe("safeNext", () => {
  it.each([
    ["/runs/4?step=train", "/runs/4?step=train"],
    [null, "/"],
    ["", "/"],
    ["https://evil.example/", "/"],
    ["//evil.example/", "/"],
    ["/\\evil.example", "/"],
  ])("sends %s to %s", (next, to) => {
    expect(safeNext(next)).toBe(to);
  });
});
