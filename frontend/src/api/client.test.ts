import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, buildUrl, describeErrorBody, readCookie, request } from "./client";

function respond(status: number, body?: unknown, type = "application/json") {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return vi.fn(async () => new Response(status === 204 ? null : text, { status, headers: { "Content-Type": type } }));
}

afterEach(() => vi.unstubAllGlobals());

describe("request", () => {
  it("sends the csrftoken cookie as X-CSRFToken on unsafe methods, with same-origin credentials", async () => {
    const fetch = respond(201, { id: 5 });
    vi.stubGlobal("fetch", fetch);
    vi.stubGlobal("document", { cookie: "sessionid=abc; csrftoken=tok%2B1" });
    await api.submitRun({ pipeline: 3 });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/runs/");
    expect(init.method).toBe("POST");
    expect(init.credentials).toBe("same-origin");
    expect(init.body).toBe(JSON.stringify({ pipeline: 3 }));
    expect(init.headers).toMatchObject({ "X-CSRFToken": "tok+1", "Content-Type": "application/json" });
  });

  it("sends no CSRF header on a GET", async () => {
    const fetch = respond(200, { count: 0, next: null, previous: null, results: [] });
    vi.stubGlobal("fetch", fetch);
    vi.stubGlobal("document", { cookie: "csrftoken=tok" });
    await api.runs({ pipeline: 2, limit: 10 });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/runs/?pipeline=2&limit=10");
    expect(init.headers).not.toHaveProperty("X-CSRFToken");
  });

  it("throws an ApiError carrying the status and the parsed body", async () => {
    vi.stubGlobal("fetch", respond(400, { pipeline: ["This pipeline has no version."] }));
    const error = await request("POST", "/api/runs/", { body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).body).toEqual({ pipeline: ["This pipeline has no version."] });
    expect((error as ApiError).message).toBe("pipeline: This pipeline has no version.");
    expect((error as ApiError).fieldErrors).toEqual({ pipeline: ["This pipeline has no version."] });
  });

  it("returns null for 204 No Content", async () => {
    vi.stubGlobal("fetch", respond(204));
    await expect(api.logout()).resolves.toBeNull();
  });

  it("turns a network failure into an ApiError with status 0", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    const error = await api.session().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
  });

  it("escapes step names in the log path", async () => {
    const fetch = respond(200, { text: "", offset: 0, next_offset: 0, is_complete: false });
    vi.stubGlobal("fetch", fetch);
    await api.stepLog(4, "a/b c", 128);
    const [url] = fetch.mock.calls[0] as unknown as [string];
    expect(url).toBe("/api/runs/4/steps/a%2Fb%20c/log/?offset=128");
  });
});

describe("helpers", () => {
  it("reads one cookie out of many", () => {
    expect(readCookie("csrftoken", "a=1; csrftoken=xyz; b=2")).toBe("xyz");
    expect(readCookie("csrftoken", "a=1")).toBeNull();
  });

  it("drops empty query values", () => {
    expect(buildUrl("/api/runs/", { pipeline: undefined, limit: 5, offset: 0 })).toBe("/api/runs/?limit=5&offset=0");
  });

  it("describes DRF errors", () => {
    expect(describeErrorBody(404, { detail: "Not found." })).toBe("Not found.");
    expect(describeErrorBody(400, { non_field_errors: ["Bad."] })).toBe("Bad.");
    expect(describeErrorBody(500, "<html>oops</html>")).toBe("The server answered 500.");
  });
});
