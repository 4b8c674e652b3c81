// The whole journey of a client app, against the live api + worker that `scripts/sdk.sh test`
// starts (SDK_API_URL). Nothing here is mocked.
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ApiError, createApiClient, type ApiClient, type LiveEvent } from "../src/index.js";

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
    client.signIn(data!);
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
    expect(generation.result?.questions_added).toBe(5);
    expect(generation.result?.source).toBe("bank");

    const listed = await api.GET("/api/v1/sessions/{session_id}/questions", {
      params: { path: { session_id: session.id }, query: { limit: 50 } },
    });
    const questions = listed.data!.items;
    expect(questions).toHaveLength(5);
    expect(new Set(questions.map((q) => q.id))).toEqual(new Set(generation.result?.question_ids));

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
    expect(exported.result?.question_count).toBe(5);
    const link = exported.result?.download_url;
    expect(link).toMatch(/^http/);

    const file = await fetch(link!);
    expect(file.status).toBe(200);
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(bytes.length).toBe(exported.result?.size_bytes);
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
    const me = await api.GET("/api/v1/analytics/me");
    expect(me.data!.reviewed_today).toBeGreaterThanOrEqual(2);
    expect(me.data!.review_streak_days).toBeGreaterThanOrEqual(1);
  });

  it("refreshes an expired access token once and retries the call", async () => {
    const before = client.tokens.get()!;
    client.tokens.set({ ...before, accessToken: "not-a-valid-token" });
    const [me, jobs] = await Promise.all([client.api.GET("/api/v1/me"), client.api.GET("/api/v1/jobs")]);
    expect(me.response.status).toBe(200);
    expect(jobs.response.status).toBe(200);
    const after = client.tokens.get()!;
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
    const before = client.tokens.get()!;
    client.tokens.set({ ...before, accessToken: "expired-meanwhile" });
    await expect(flaky.api.GET("/api/v1/me")).rejects.toMatchObject({ status: 503 });
    expect(client.tokens.get()?.refreshToken).toBe(before.refreshToken);
    expect(outages.expired).toBe(0);

    outage = false;
    const me = await flaky.api.GET("/api/v1/me");
    expect(me.response.status).toBe(200);
    expect(client.tokens.get()?.refreshToken).not.toBe(before.refreshToken);
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
    const refreshToken = client.tokens.get()!.refreshToken;
    await client.signOut();
    expect(client.tokens.get()).toBeNull();
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
