import { describe, expect, it } from "vitest";
import { formatAgo, formatDuration, secondsBetween } from "./format";

describe("formatDuration", () => {
  it.each([
    [null, "—"],
    [0, "0s"],
    [4.7, "4s"],
    [65, "1m 05s"],
    [3599, "59m 59s"],
    [3720, "1h 02m"],
    [200_000, "2d 7h"],
  ])("formats %s seconds as %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe("secondsBetween", () => {
  it("measures to the end, or to now while there is no end", () => {
    expect(secondsBetween("2024-05-01T10:00:00Z", "2024-05-01T10:01:30Z")).toBe(90);
    expect(secondsBetween("2024-05-01T10:00:00Z", null, Date.parse("2024-05-01T10:00:05Z"))).toBe(5);
    expect(secondsBetween(null, "2024-05-01T10:00:00Z")).toBeNull();
  });
});

describe("formatAgo", () => {
  it("says how long ago, in words a person reads at a glance", () => {
    const now = Date.parse("2024-05-01T12:00:00Z");
    expect(formatAgo("2024-05-01T11:59:50Z", now)).toBe("just now");
    expect(formatAgo("2024-05-01T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo("2024-05-01T09:00:00Z", now)).toBe("3 h ago");
  });
});
