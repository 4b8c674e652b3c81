// The whole journey of a client app, against the live api + worker that `scripts/sdk.sh test`
// starts (SDK_API_URL). Nothing here is mocked.
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  ApiError,
  NotFoundError,
  ValidationError,
  createApiClient,
  resultOf,
  unwrap,
  type ApiClient,
  type LiveEvent,
  type StoredTokens,
} from "../src/index.js";

const baseUrl = process.env.SDK_API_URL;

describe("SDK journey against the live services", () => {
  let client: ApiClient;
  let expired = 0;
  const events: LiveEvent[] = [];
  const stop = new AbortController();
  let subscription: Promise<void>;

  beforeAll(async () => {
    expect(baseUrl, "SDK_API_URL must point at a running api (scripts/sdk.sh test sets it)").toBeTruthy();
    client = createApiClient({ baseUrl: baseUrl!, onSessionExpired: () => expired++ });
    const { data, error, response } = await client.api.POST("/api/v1/auth/register", {
      body: { fullname: "Sdk Tester", email: `sdk-${randomUUID()}@example.com`, password: "correct horse battery" },
    });
    expect(error, JSON.stringify(error)).toBeUndefined();
    expect(response.status).toBe(201);
    await client.signIn(data!);
    subscription = client.subscribe((event) => events.push(event), { signal: stop.signal });
  });

  afterAll(async () => {
    stop.abort();
    await subscription;
  });

  it("creates a session, generates, pins, exports and downloads", async () => {
    const { api } = client;

    const created = await api.POST("/api/v1/sessions", {
      body: { role: "Backend Engineer", experience: "senior", topics: ["databases", "rust"] },
    });
    expect(created.response.status).toBe(201);
    const session = created.data!;
    expect(session.question_count).toBe(0);

    const started = await api.POST("/api/v1/sessions/{session_id}/generate", {
      params: { path: { session_id: session.id } },
      body: { count: 5 },
    });
    expect(started.response.status).toBe(202);
    const generation = await client.waitForJob(started.data!.job_id);
    expect(generation.status, generation.error).toBe("succeeded");
    const generated = resultOf(generation, "generate_questions")!;
    expect(generated.questions_added).toBe(5);
    expect(generated.source).toBe("bank");

    const listed = await api.GET("/api/v1/sessions/{session_id}/questions", {
      params: { path: { session_id: session.id }, query: { limit: 50 } },
    });
    const questions = listed.data!.items;
    expect(questions).toHaveLength(5);
    expect(new Set(questions.map((q) => q.id))).toEqual(new Set(generated.question_ids));

    const oldest = questions[questions.length - 1]!;
    const pinned = await api.PATCH("/api/v1/questions/{question_id}", {
      params: { path: { question_id: oldest.id } },
      body: { is_pinned: true },
    });
    expect(pinned.data?.is_pinned).toBe(true);
    const pinnedFirst = await api.GET("/api/v1/sessions/{session_id}/questions", {
      params: { path: { session_id: session.id } },
    });
    expect(pinnedFirst.data!.items[0]?.id).toBe(oldest.id);
    const onlyPinned = await api.GET("/api/v1/sessions/{session_id}/questions", {
      params: { path: { session_id: session.id }, query: { pinned: true } },
    });
    expect(onlyPinned.data!.items.map((q) => q.id)).toEqual([oldest.id]);

    const exportStarted = await api.POST("/api/v1/sessions/{session_id}/exports", {
      params: { path: { session_id: session.id } },
      body: { format: "xlsx" },
    });
    expect(exportStarted.response.status).toBe(202);
    const exported = await client.waitForJob(exportStarted.data!.job_id);
    expect(exported.status, exported.error).toBe("succeeded");
    const file_ = resultOf(exported, "export_session")!;
    expect(exported.result?.kind).toBe("export_session");
    expect(file_.question_count).toBe(5);
    const link = file_.download_url;
    expect(link).toMatch(/^http/);

    const file = await fetch(link!);
    expect(file.status).toBe(200);
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(bytes.length).toBe(file_.size_bytes);
    expect(String.fromCharCode(bytes[0]!, bytes[1]!)).toBe("PK"); // a zip container
    expect(Buffer.from(bytes).includes("xl/worksheets/sheet1.xml")).toBe(true);

    // The live stream saw both jobs end.
    await expect.poll(() => finished(events), { timeout: 10_000 }).toEqual(
      expect.arrayContaining([generation.id, exported.id]),
    );
  });

  it("answers a question, waits for the grade and reads it", async () => {
    const { api } = client;
    const created = await api.POST("/api/v1/sessions", {
      body: { role: "Backend Engineer", experience: "mid-level", topics: ["networking"] },
    });
    const sessionId = created.data!.id;
    const model =
      "DNS turns the hostname into an IP address. The browser opens a TCP connection and negotiates TLS. " +
      "It sends an HTTP request and renders the HTML of the response.";
    const added = await api.POST("/api/v1/sessions/{session_id}/questions", {
      params: { path: { session_id: sessionId } },
      body: { question: "What happens when you open a URL?", answer: model, kind: "technical" },
    });
    expect(added.response.status).toBe(201);

    const attempt = await client.practise(added.data!.id, model, { durationSecs: 42, idempotencyKey: "sdk-practice-1" });
    expect(attempt.status).toBe("graded");
    expect(attempt.duration_secs).toBe(42);
    expect(attempt.grade?.grader).toBe("offline");
    expect(attempt.grade?.score).toBeGreaterThanOrEqual(90);
    expect(attempt.grade?.criteria.completeness.score).toBe(5);

    // The same key returns the same attempt; the list and the statistics show it.
    const again = await client.practise(added.data!.id, model, { durationSecs: 42, idempotencyKey: "sdk-practice-1" });
    expect(again.id).toBe(attempt.id);
    const stats = await api.GET("/api/v1/sessions/{session_id}/stats", {
      params: { path: { session_id: sessionId } },
    });
    expect(stats.data!.scores).toEqual([
      { question_id: added.data!.id, last_score: attempt.grade!.score, best_score: attempt.grade!.score, attempts: 1 },
    ]);
  });

  it("reviews questions and lists what is due", async () => {
    const { api } = client;
    const created = await api.POST("/api/v1/sessions", {
      body: { role: "Backend Engineer", experience: "senior", topics: ["rust"] },
    });
    const sessionId = created.data!.id;
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const added = await api.POST("/api/v1/sessions/{session_id}/questions", {
        params: { path: { session_id: sessionId } },
        body: { question: `Review question ${n}: what is a borrow?`, answer: "A reference that does not own its value." },
      });
      ids.push(added.data!.id);
    }
    const again = await client.review(ids[0]!, "again");
    const easy = await client.review(ids[1]!, "easy");
    expect(again.scheduled_days).toBeLessThan(easy.scheduled_days);
    expect(easy.reps).toBe(1);
    // Nothing is due yet: both come back on later days.
    expect(await client.dueReviews({ sessionId })).toEqual([]);
    // An aborted signal stops the helpers (without it, both calls succeed).
    const aborted = AbortSignal.abort();
    await expect(client.dueReviews({ sessionId, signal: aborted })).rejects.toThrow();
    await expect(client.review(ids[0]!, "good", { signal: aborted })).rejects.toThrow();
    const me = await api.GET("/api/v1/analytics/me");
    expect(me.data!.reviewed_today).toBeGreaterThanOrEqual(2);
    expect(me.data!.review_streak_days).toBeGreaterThanOrEqual(1);
  });

  it("refreshes an expired access token once and retries the call", async () => {
    const before = (await client.tokens.get())!;
    await client.tokens.set({ ...before, accessToken: "not-a-valid-token" });
    const [me, jobs] = await Promise.all([client.api.GET("/api/v1/me"), client.api.GET("/api/v1/jobs")]);
    expect(me.response.status).toBe(200);
    expect(jobs.response.status).toBe(200);
    const after = (await client.tokens.get())!;
    expect(after.accessToken).not.toBe("not-a-valid-token");
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(expired).toBe(0);
  });

  it("keeps the tokens when the refresh endpoint is down, and refreshes once it is back", async () => {
    // The network between the app and the api fails refreshes for a while (a 503 from a
    // proxy); every other request reaches the live api.
    let outage = true;
    const outages = { expired: 0 };
    const flaky = createApiClient({
      baseUrl: baseUrl!,
      tokens: client.tokens,
      onSessionExpired: () => outages.expired++,
      fetch: (request) =>
        outage && new URL(request.url).pathname === "/api/v1/auth/refresh"
          ? Promise.resolve(
              new Response(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503 }), {
                status: 503,
                headers: { "content-type": "application/problem+json" },
              }),
            )
          : fetch(request),
    });
    const before = (await client.tokens.get())!;
    await client.tokens.set({ ...before, accessToken: "expired-meanwhile" });
    await expect(flaky.api.GET("/api/v1/me")).rejects.toMatchObject({ status: 503 });
    expect((await client.tokens.get())?.refreshToken).toBe(before.refreshToken);
    expect(outages.expired).toBe(0);

    outage = false;
    const me = await flaky.api.GET("/api/v1/me");
    expect(me.response.status).toBe(200);
    expect((await client.tokens.get())?.refreshToken).not.toBe(before.refreshToken);
  });

  it("throws typed errors, walks pages, and keeps tokens in an asynchronous store", async () => {
    const missing = unwrap(
      client.api.GET("/api/v1/sessions/{session_id}", { params: { path: { session_id: "000000000000000000000000" } } }),
    );
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    const invalid = await unwrap(client.api.POST("/api/v1/sessions", { body: { role: "x", experience: "senior" } })).catch(
      (e: unknown) => e,
    );
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).fields.map((f) => f.field)).toContain("role");
    expect((invalid as ValidationError).type).toBe("/problems/validation-error");

    // An app keeping tokens in (asynchronous) secure storage.
    let stored: StoredTokens | null = null;
    const slowStore = {
      get: async () => {
        await new Promise((r) => setTimeout(r, 5));
        return stored;
      },
      set: async (t: StoredTokens | null) => {
        await new Promise((r) => setTimeout(r, 5));
        stored = t;
      },
    };
    const app = createApiClient({ baseUrl: baseUrl!, tokens: slowStore });
    await app.signIn(
      await unwrap(
        app.api.POST("/api/v1/auth/register", {
          body: { fullname: "Async Store", email: `async-${randomUUID()}@example.com`, password: "correct horse battery" },
        }),
      ),
    );
    for (const role of ["Role A", "Role B", "Role C"]) {
      await unwrap(app.api.POST("/api/v1/sessions", { body: { role, experience: "junior" } }));
    }
    stored = { ...stored!, accessToken: "stale" }; // refreshed through the async store
    const roles: string[] = [];
    for await (const session of app.paginate((cursor) =>
      unwrap(app.api.GET("/api/v1/sessions", { params: { query: { limit: 1, cursor } } })),
    )) {
      roles.push(session.role);
    }
    expect(roles.sort()).toEqual(["Role A", "Role B", "Role C"]);
    expect(stored!.accessToken).not.toBe("stale");
  });

  it("retries a job start after a network error without starting it twice, and times out", async () => {
    let failures = 1;
    const keys: string[] = [];
    const flaky = createApiClient({
      baseUrl: baseUrl!,
      tokens: client.tokens,
      fetch: (request) => {
        if (request.method === "POST" && request.url.endsWith("/exports")) {
          keys.push(request.headers.get("idempotency-key") ?? "");
          if (failures-- > 0) {
            // The request reached the api, but the answer is lost on the way back.
            return fetch(request).then(() => Promise.reject(new TypeError("network connection lost")));
          }
        }
        return fetch(request);
      },
    });
    const session = await unwrap(flaky.api.POST("/api/v1/sessions", { body: { role: "Retry Role", experience: "senior" } }));
    const started = await unwrap(
      flaky.api.POST("/api/v1/sessions/{session_id}/exports", {
        params: { path: { session_id: session.id } },
        body: { format: "csv" },
      }),
    );
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
    const jobs = await unwrap(flaky.api.GET("/api/v1/jobs", { params: { query: { limit: 100 } } }));
    expect(jobs.items.filter((j) => j.session_id === session.id).map((j) => j.id)).toEqual([started.job_id]);

    const hanging = createApiClient({
      baseUrl: baseUrl!,
      tokens: client.tokens,
      timeoutMs: 200,
      retries: 0,
      fetch: (request) =>
        new Promise((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason))),
    });
    await expect(hanging.api.GET("/api/v1/me")).rejects.toBeDefined();
  });

  it("polls notifications where events cannot stream", async () => {
    const seen: LiveEvent[] = [];
    const stopPolling = new AbortController();
    const polling = client.subscribe((e) => seen.push(e), { mode: "poll", pollMs: 200, signal: stopPolling.signal });
    await new Promise((r) => setTimeout(r, 300));
    const session = await unwrap(client.api.POST("/api/v1/sessions", { body: { role: "Poll Role", experience: "senior" } }));
    const started = await unwrap(
      client.api.POST("/api/v1/sessions/{session_id}/exports", {
        params: { path: { session_id: session.id } },
        body: { format: "csv" },
      }),
    );
    await expect
      .poll(() => seen.filter((e) => e.type === "notification" && e.job_id === started.job_id).length, { timeout: 15_000 })
      .toBe(1);
    stopPolling.abort();
    await polling;
  });

  it("reports problem+json errors with their status and title", async () => {
    const missing = await client.api.GET("/api/v1/sessions/{session_id}", {
      params: { path: { session_id: "000000000000000000000000" } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error?.status).toBe(404);
    await expect(client.waitForJob("01ARZ3NDEKTSV4RRFFQ69G5FAV")).rejects.toBeInstanceOf(ApiError);

    const invalid = await client.api.POST("/api/v1/sessions", {
      // @ts-expect-error -- `experience` is required and "wizard" is not a role level: the types say so.
      body: { role: "x", experience: "wizard" },
    });
    expect(invalid.response.status).toBe(400);
    expect(invalid.response.headers.get("content-type")).toContain("application/problem+json");
  });

  it("signs out: the refresh token is revoked and the session is over", async () => {
    const refreshToken = (await client.tokens.get())!.refreshToken;
    await client.signOut();
    expect((await client.tokens.get())).toBeNull();
    const reuse = await client.api.POST("/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
    expect(reuse.response.status).toBe(401);
    const me = await client.api.GET("/api/v1/me");
    expect(me.response.status).toBe(401);
  });
});

function finished(events: LiveEvent[]): string[] {
  return events
    .filter((e) => e.type === "job" && (e.status === "succeeded" || e.status === "failed"))
    .map((e) => e.job_id);
}
