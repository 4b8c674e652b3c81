import { describe, expect, it } from "vitest";

import { readEventStream, type EventMessage } from "../src/index.js";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect(chunks: string[]): Promise<EventMessage[]> {
  const out: EventMessage[] = [];
  for await (const message of readEventStream(streamOf(chunks))) out.push(message);
  return out;
}

describe("readEventStream", () => {
  it("reads ids, event names and data, skipping comments and empty messages", async () => {
    const messages = await collect([": keep-alive\n\n", "id: 7\nevent: job\ndata: {\"a\":1}\n\n", "id: 8\n\n"]);
    expect(messages).toEqual([{ id: "7", event: "job", data: '{"a":1}' }]);
  });

  it("joins multi-line data and handles CRLF split across chunks", async () => {
    const messages = await collect(["data: one\r", "\ndata: two\r\n", "\r\n", "data:three\n", "\n"]);
    expect(messages.map((m) => m.data)).toEqual(["one\ntwo", "three"]);
  });

  it("keeps a UTF-8 character split across chunks whole", async () => {
    const bytes = new TextEncoder().encode("data: 東京\n\n");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 8));
        controller.enqueue(bytes.slice(8));
        controller.close();
      },
    });
    const out: EventMessage[] = [];
    for await (const message of readEventStream(stream)) out.push(message);
    expect(out).toEqual([{ data: "東京" }]);
  });

  it("drops a message the stream cut off before its blank line", async () => {
    expect(await collect(["data: whole\n\n", "data: cut"])).toEqual([{ data: "whole" }]);
  });
});

describe("the CommonJS build", () => {
  it("loads with require", async () => {
    const { createRequire } = await import("node:module");
    const require = createRequire(import.meta.url);
    const sdk = require("../dist/cjs/index.js") as typeof import("../src/index.js");
    expect(typeof sdk.createApiClient).toBe("function");
    expect(new sdk.NotFoundError(404, undefined)).toBeInstanceOf(sdk.ApiError);
  });
});
