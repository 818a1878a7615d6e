import { describe, expect, it } from "vitest";
import { attemptChoices, pickAttempt, shownAttempt } from "./attempts";

describe("shownAttempt", () => {
  it("shows the latest attempt when nothing was picked", () => {
    expect(shownAttempt(null, "train", 3)).toBe(3);
  });

  it("shows the earlier attempt the reader picked for this step", () => {
    expect(shownAttempt({ step: "train", attempt: 1 }, "train", 3)).toBe(1);
  });

  it("ignores a pick made for another step", () => {
    expect(shownAttempt({ step: "prepare", attempt: 1 }, "train", 3)).toBe(3);
  });

  it("follows a retry when the reader had picked the then-latest attempt", () => {
    const picked = pickAttempt("train", 2, 2); // attempt 2 was the latest when picked
    expect(picked).toBeNull();
    expect(shownAttempt(picked, "train", 3)).toBe(3); // the step retried into attempt 3
  });

  it("keeps an earlier attempt the reader picked while the step retries again", () => {
    const picked = pickAttempt("train", 1, 2);
    expect(shownAttempt(picked, "train", 3)).toBe(1);
  });

  it("never shows an attempt the step has not had", () => {
    expect(shownAttempt({ step: "train", attempt: 5 }, "train", 2)).toBe(2);
    expect(shownAttempt({ step: "train", attempt: 0 }, "train", 2)).toBe(2);
  });
});

describe("attemptChoices", () => {
  it("offers no choice for a step on its first attempt", () => {
    expect(attemptChoices(1)).toEqual([]);
  });

  it("lists every attempt newest first, the latest marked", () => {
    expect(attemptChoices(3)).toEqual([
      { attempt: 3, label: "attempt 3 (latest)" },
      { attempt: 2, label: "attempt 2" },
      { attempt: 1, label: "attempt 1" },
    ]);
  });
});
