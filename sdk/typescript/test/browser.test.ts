// @vitest-environment happy-dom
// The SDK in a browser-like environment (happy-dom's window, fetch, streams and crypto):
// what an app in a web view runs without a network round trip.
import { describe, expect, it } from "vitest";

import {
  ConflictError,
  RateLimitedError,
  createApiClient,
  memoryTokenStore,
  readEventStream,
  toApiError,
  type EventMessage,
} from "../src/index.js";

describe("in a browser-like environment", () => {
  it("runs in a window", () => {
    expect(typeof window).toBe("object");
    expect(typeof globalThis.crypto.randomUUID()).toBe("string");
  });

  it("reads an event stream", async () => {
    const bytes = new TextEncoder().encode('id: 1\nevent: job\ndata: {"type":"job"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    const out: EventMessage[] = [];
    for await (const m of readEventStream(body)) out.push(m);
    expect(out).toEqual([{ id: "1", event: "job", data: '{"type":"job"}' }]);
  });

  it("builds a client, pages and types errors", async () => {
    const client = createApiClient({ baseUrl: "https://api.example.com/", tokens: memoryTokenStore() });
    const pages = [
      { items: [1, 2], next_cursor: "a" },
      { items: [3], next_cursor: null },
    ];
    const seen: number[] = [];
    for await (const n of client.paginate(async (cursor) => pages[cursor ? 1 : 0]!)) seen.push(n);
    expect(seen).toEqual([1, 2, 3]);
    const full = toApiError(409, { type: "/problems/session-full", title: "Session full", status: 409 });
    expect(full).toBeInstanceOf(ConflictError);
    expect(full.type).toBe("/problems/session-full");
    const limited = toApiError(429, undefined, 30);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterSeconds).toBe(30);
  });
});
