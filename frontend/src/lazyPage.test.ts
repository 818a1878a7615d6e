import { describe, expect, it } from "vitest";
import { lazyPage } from "./lazyPage";

const Component = () => null;

describe("lazyPage", () => {
  it("loads its module once, however often it is preloaded", async () => {
    let loads = 0;
    const page = lazyPage(async () => {
      loads += 1;
      return Component;
    });
    await Promise.all([page.preload(), page.preload()]);
    await page.preload();
    expect(loads).toBe(1);
  });

  it("does not load before it is preloaded or rendered", () => {
    let loads = 0;
    lazyPage(async () => {
      loads += 1;
      return Component;
    });
    expect(loads).toBe(0);
  });
});
