/**
 * Typed client for the Interview Prep API.
 *
 * `schema.ts` is generated from `docs/openapi.json` (run `npm run generate`; never edit it by
 * hand). This file is the thin layer on top that every app would otherwise write itself:
 * token storage with one refresh on 401, waiting for a background job, and a live-events
 * subscription with resume.
 */
import createClient, { type Client } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** Every schema of the API by name, e.g. `Schemas["SessionView"]`. */
export type Schemas = components["schemas"];
export type AuthTokens = Schemas["AuthTokens"];
export type Job = Schemas["JobView"];
export type JobKind = Schemas["JobKind"];
/** A job's result, by kind: narrow with `result.kind === "generate_questions"`, or use `resultOf`. */
export type JobResult = NonNullable<Job["result"]>;

/** The job's result if the job is of `kind` and has one, typed for that kind. */
export function resultOf<K extends JobResult["kind"]>(job: Job, kind: K): Extract<JobResult, { kind: K }> | undefined {
  const result = job.result;
  return result && result.kind === kind ? (result as Extract<JobResult, { kind: K }>) : undefined;
}
export type JobStatus = Schemas["JobStatus"];
export type LiveEvent = Schemas["LiveEventData"];
export type Problem = Schemas["Problem"];
export type Attempt = Schemas["AttemptView"];
export type Grade = Schemas["Grade"];
export type Rating = Schemas["Rating"];
export type ReviewSchedule = Schemas["ReviewView"];
export type DueItem = Schemas["DueItem"];

/** The two tokens a signed-in client holds. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
}

/**
 * Where tokens live between calls: memory by default; give one backed by secure storage
 * (Keychain, EncryptedSharedPreferences, an httpOnly cookie proxy...) in an app.
 */
export interface TokenStore {
  get(): StoredTokens | null | Promise<StoredTokens | null>;
  set(tokens: StoredTokens | null): void | Promise<void>;
}

/** A token store that forgets everything when the process ends. */
export function memoryTokenStore(initial: StoredTokens | null = null): TokenStore {
  let tokens = initial;
  return {
    get: () => tokens,
    set: (next) => {
      tokens = next;
    },
  };
}

/** Every problem `type` the API answers with; each documented at `GET {type}`. */
export type ProblemType =
  | "/problems/bad-request"
  | "/problems/validation-error"
  | "/problems/invalid-code"
  | "/problems/unauthorized"
  | "/problems/forbidden"
  | "/problems/not-found"
  | "/problems/method-not-allowed"
  | "/problems/not-acceptable"
  | "/problems/conflict"
  | "/problems/email-taken"
  | "/problems/session-full"
  | "/problems/duplicate-question"
  | "/problems/too-many-sessions"
  | "/problems/job-not-failed"
  | "/problems/already-verified"
  | "/problems/length-required"
  | "/problems/payload-too-large"
  | "/problems/unsupported-media-type"
  | "/problems/idempotency-key-reused"
  | "/problems/rate-limited"
  | "/problems/token-budget-spent"
  | "/problems/internal-error"
  | "/problems/dependency-unavailable"
  | "/problems/service-unavailable"
  | "/problems/server-busy"
  | "/problems/client-error";

/** A response that was not 2xx, with the API's problem+json body when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem ? `${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}` : `HTTP ${status}`);
    this.name = "ApiError";
  }

  /** The problem's type, e.g. `/problems/session-full`. */
  get type(): ProblemType | undefined {
    return this.problem?.type as ProblemType | undefined;
  }
}

/** 400 or 422: the request breaks a rule; `fields` names each field's problem. */
export class ValidationError extends ApiError {
  get fields(): { field: string; message: string }[] {
    return this.problem?.errors ?? [];
  }
}
/** 401: not signed in (after the one automatic refresh). */
export class UnauthorizedError extends ApiError {}
/** 403: signed in but not allowed. */
export class ForbiddenError extends ApiError {}
/** 404: no such resource for this user. */
export class NotFoundError extends ApiError {}
/** 409: conflicts with the resource's state (full session, duplicate, …). */
export class ConflictError extends ApiError {}
/** 429: a rate limit, quota or the daily AI budget; retry after `retryAfterSeconds`. */
export class RateLimitedError extends ApiError {
  constructor(
    status: number,
    problem: Problem | undefined,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(status, problem);
  }
}
/** 5xx: the API or a service behind it is unavailable; retry later. */
export class UnavailableError extends ApiError {
  constructor(
    status: number,
    problem: Problem | undefined,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(status, problem);
  }
}

/** The error class for a status (with the `Retry-After` seconds when known). */
export function toApiError(status: number, problem?: Problem, retryAfterSeconds?: number): ApiError {
  if (status === 400 || status === 422) return new ValidationError(status, problem);
  if (status === 401) return new UnauthorizedError(status, problem);
  if (status === 403) return new ForbiddenError(status, problem);
  if (status === 404) return new NotFoundError(status, problem);
  if (status === 409) return new ConflictError(status, problem);
  if (status === 429) return new RateLimitedError(status, problem, retryAfterSeconds);
  if (status >= 500) return new UnavailableError(status, problem, retryAfterSeconds);
  return new ApiError(status, problem);
}

function retryAfter(response: Response): number | undefined {
  const value = Number(response.headers.get("retry-after") ?? "NaN");
  return Number.isFinite(value) ? value : undefined;
}

/**
 * The data of an openapi-fetch answer, or its error thrown as the matching `ApiError`
 * subclass: `const session = await unwrap(client.api.GET("/api/v1/sessions/{session_id}", …))`.
 */
export async function unwrap<T>(
  result:
    | { data?: T; error?: unknown; response: Response }
    | Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await result;
  if (error !== undefined || data === undefined) {
    throw toApiError(response.status, error as Problem | undefined, retryAfter(response));
  }
  return data;
}

export interface ClientOptions {
  /** The API's origin, e.g. `https://api.example.com` (no `/api/v1`). */
  baseUrl: string;
  /** Where tokens are kept; memory when omitted. */
  tokens?: TokenStore;
  /** Called once when a refresh fails and the user must sign in again. */
  onSessionExpired?: () => void;
  /** A `fetch` implementation; the global one when omitted. */
  fetch?: (request: Request) => Promise<Response>;
  /** Abort a request that takes longer (ms); 30 000 when omitted (live events excepted). */
  timeoutMs?: number;
  /**
   * Tries again after a network error, 429, 502, 503 or 504, waiting `Retry-After` (or
   * 0.25 s doubling) when that is at most 30 s: for reads, and for job starts, which get an
   * `Idempotency-Key` so that a repeat cannot start a second job. 2 when omitted.
   */
  retries?: number;
}

export interface WaitOptions {
  /** Give up after this long (ms); 60 000 when omitted. */
  timeoutMs?: number;
  /** First polling interval (ms), doubled up to 2 s; 200 when omitted. */
  intervalMs?: number;
  signal?: AbortSignal;
}

export interface SubscribeOptions {
  /** Resume after this event id (the `id` of the last event handled). */
  lastEventId?: string;
  /** Ends the subscription. */
  signal?: AbortSignal;
  /** Called when the connection drops; the subscription reconnects after `retryMs`. */
  onError?: (error: unknown) => void;
  /** Pause before reconnecting (ms); 1 000 when omitted. */
  retryMs?: number;
  /**
   * `stream` reads Server-Sent Events; `poll` asks for new notifications every `pollMs`
   * (for runtimes whose `fetch` cannot stream a body, such as React Native); `auto` (the
   * default) streams and falls back to polling when the response has no readable body.
   * Polling delivers notifications only (`type: "notification"`), not job progress.
   */
  mode?: "auto" | "stream" | "poll";
  /** Polling interval (ms); 3 000 when omitted. */
  pollMs?: number;
}

/** The typed client plus the helpers. `api` is an openapi-fetch client over every operation. */
export interface ApiClient {
  api: Client<paths>;
  tokens: TokenStore;
  /** Keeps the tokens of a register, login or refresh answer. */
  signIn(tokens: AuthTokens): Promise<void>;
  /** Revokes the refresh token on the server (best effort) and forgets both tokens. */
  signOut(): Promise<void>;
  /** Polls a job until it succeeds or fails; rejects on timeout or abort. */
  waitForJob(jobId: string, options?: WaitOptions): Promise<Job>;
  /**
   * Streams the caller's live events (job progress, notifications) to `onEvent`, reconnecting
   * with `Last-Event-ID` after a drop. The server ends a stream when its access token
   * expires: the reconnect refreshes the token and resumes where it stopped. A user may have
   * 5 streams open at once; past that the subscription waits (`Retry-After`) and tries again.
   * Resolves when `signal` aborts.
   */
  subscribe(onEvent: (event: LiveEvent) => void, options?: SubscribeOptions): Promise<void>;
  /**
   * Answers a question for practice, waits for the grade and returns the graded attempt
   * (`status` `graded` with its `grade`, or `failed`). Give an `idempotencyKey` to make a
   * retried call return the same attempt.
   */
  practise(
    questionId: string,
    answer: string,
    options?: WaitOptions & { durationSecs?: number; idempotencyKey?: string },
  ): Promise<Attempt>;
  /** Rates how well a question was recalled; returns its new FSRS schedule. */
  review(questionId: string, rating: Rating, options?: { signal?: AbortSignal }): Promise<ReviewSchedule>;
  /**
   * Every question due for review now (most overdue first), following the cursor across
   * pages. Narrow it to a session or a kind; `signal` stops it between or during pages.
   */
  dueReviews(filter?: {
    sessionId?: string;
    kind?: Schemas["QuestionKind"];
    signal?: AbortSignal;
  }): Promise<DueItem[]>;
  /**
   * Every item of a cursor-paged list, page after page:
   * `for await (const s of client.paginate((cursor) => unwrap(client.api.GET("/api/v1/sessions", { params: { query: { cursor } } }))))`.
   */
  paginate<T>(
    page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>,
  ): AsyncGenerator<T>;
}

/** Paths of the operations that start a job (safe to repeat with an `Idempotency-Key`). */
const JOB_STARTS = [/\/generate$/, /\/regenerate$/, /\/exports$/, /\/attempts$/, /\/from-job-description$/, /\/admin\/jobs\/probe$/];

const AUTH_PATHS = ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"];

/** Builds a client. */
export function createApiClient(options: ClientOptions): ApiClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const tokens = options.tokens ?? memoryTokenStore();
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  let refreshing: Promise<boolean> | null = null;

  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 2;

  const authorize = async (request: Request): Promise<Request> => {
    const access = (await tokens.get())?.accessToken;
    if (access && !request.headers.has("authorization")) {
      request.headers.set("authorization", `Bearer ${access}`);
    }
    return request;
  };

  // Sends with a timeout (not for event streams, which stay open) and, for reads and job
  // starts, tries again after a network error or a 429/502/503/504 whose wait is short.
  const sendRetrying = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const jobStart = request.method === "POST" && JOB_STARTS.some((r) => r.test(path));
    const canRetry = request.method === "GET" || request.method === "HEAD" || jobStart;
    if (jobStart && !request.headers.has("idempotency-key")) {
      request.headers.set("idempotency-key", globalThis.crypto.randomUUID());
    }
    const streaming = request.headers.get("accept") === "text/event-stream";
    for (let attempt = 0; ; attempt++) {
      const copy = canRetry ? request.clone() : request;
      const signal = streaming
        ? copy.signal
        : AbortSignal.any([copy.signal, AbortSignal.timeout(timeoutMs)]);
      try {
        const response = await send(new Request(copy, { signal }));
        const transient = [429, 502, 503, 504].includes(response.status);
        if (!canRetry || !transient || attempt >= retries) return response;
        const wait = (retryAfter(response) ?? 0.25 * 2 ** attempt) * 1_000;
        if (wait > 30_000) return response;
        await response.body?.cancel();
        await sleep(wait, request.signal);
      } catch (error) {
        if (!canRetry || attempt >= retries || request.signal.aborted) throw error;
        await sleep(250 * 2 ** attempt, request.signal);
      }
    }
  };

  // One refresh at a time: concurrent 401s wait for the same rotation (the server revokes a
  // refresh token's whole family when it is used twice).
  const refresh = (): Promise<boolean> => {
    refreshing ??= (async () => {
      const current = await tokens.get();
      if (!current) return false;
      const response = await send(
        new Request(`${baseUrl}/api/v1/auth/refresh`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refresh_token: current.refreshToken }),
        }),
      );
      // Only a refused refresh token ends the session. A rate limit or an outage keeps the
      // tokens (the next call refreshes again) and reaches the caller as an error.
      if (response.status === 400 || response.status === 401) {
        await tokens.set(null);
        options.onSessionExpired?.();
        return false;
      }
      if (!response.ok) {
        const problem = response.headers.get("content-type")?.includes("json")
          ? ((await response.json()) as Problem)
          : undefined;
        throw toApiError(response.status, problem, retryAfter(response));
      }
      const body = (await response.json()) as AuthTokens;
      await tokens.set({ accessToken: body.access_token, refreshToken: body.refresh_token });
      return true;
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  };

  const authFetch = async (request: Request): Promise<Response> => {
    const isAuthRoute = AUTH_PATHS.some((p) => new URL(request.url).pathname === p);
    const hadToken = (await tokens.get()) !== null && !request.headers.has("authorization");
    const again = hadToken && !isAuthRoute ? request.clone() : null;
    const response = await sendRetrying(await authorize(request));
    if (response.status !== 401 || again === null) return response;
    if (!(await refresh())) return response;
    again.headers.delete("authorization");
    return sendRetrying(await authorize(again));
  };

  const api = createClient<paths>({ baseUrl, fetch: authFetch });

  const signIn = async (answer: AuthTokens) =>
    tokens.set({ accessToken: answer.access_token, refreshToken: answer.refresh_token });

  const signOut = async () => {
    const current = await tokens.get();
    if (current) {
      await api.POST("/api/v1/auth/logout", { body: { refresh_token: current.refreshToken } }).catch(() => undefined);
    }
    await tokens.set(null);
  };

  const waitForJob = async (jobId: string, wait: WaitOptions = {}): Promise<Job> => {
    const deadline = Date.now() + (wait.timeoutMs ?? 60_000);
    let interval = wait.intervalMs ?? 200;
    for (;;) {
      wait.signal?.throwIfAborted();
      const { data, error, response } = await api.GET("/api/v1/jobs/{job_id}", {
        params: { path: { job_id: jobId } },
        signal: wait.signal,
      });
      if (error !== undefined) throw toApiError(response.status, error, retryAfter(response));
      if (data.status === "succeeded" || data.status === "failed") return data;
      if (Date.now() + interval > deadline) {
        throw new Error(`job ${jobId} still ${data.status} after ${wait.timeoutMs ?? 60_000} ms`);
      }
      await sleep(interval, wait.signal);
      interval = Math.min(interval * 2, 2_000);
    }
  };

  // Where `fetch` cannot stream: new notifications, asked for every `pollMs`.
  const poll = async (onEvent: (event: LiveEvent) => void, sub: SubscribeOptions): Promise<void> => {
    const seen = new Set<string>();
    let first = true;
    while (!sub.signal?.aborted) {
      try {
        const { data, error, response } = await api.GET("/api/v1/notifications", {
          params: { query: { limit: 50 } },
          signal: sub.signal,
        });
        if (error !== undefined) throw toApiError(response.status, error, retryAfter(response));
        for (const n of [...data.items].reverse()) {
          if (seen.has(n.id)) continue;
          seen.add(n.id);
          // What was there before the subscription started is not news.
          if (!first) {
            onEvent({
              id: n.id,
              type: "notification",
              job_id: n.job_id,
              status: n.status,
              kind: n.kind,
              notification_id: n.id,
              message: n.message,
            });
          }
        }
        first = false;
      } catch (error) {
        if (sub.signal?.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
          throw error;
        }
        sub.onError?.(error);
      }
      await sleep(sub.pollMs ?? 3_000, sub.signal).catch(() => undefined);
    }
  };

  const subscribe = async (onEvent: (event: LiveEvent) => void, sub: SubscribeOptions = {}): Promise<void> => {
    const mode = sub.mode ?? "auto";
    if (mode === "poll") return poll(onEvent, sub);
    let lastEventId = sub.lastEventId;
    while (!sub.signal?.aborted) {
      try {
        const headers: Record<string, string> = { accept: "text/event-stream" };
        if (lastEventId) headers["last-event-id"] = lastEventId;
        const response = await authFetch(
          new Request(`${baseUrl}/api/v1/events`, { headers, signal: sub.signal }),
        );
        if (response.status === 429) {
          // Too many streams open for this user (at most 5): one frees within seconds of
          // its client going away.
          const seconds = Number(response.headers.get("retry-after") ?? "10");
          await response.body?.cancel();
          await sleep(Math.max(seconds, 1) * 1_000, sub.signal).catch(() => undefined);
          continue;
        }
        if (response.ok && !response.body && mode === "auto") {
          // This runtime's fetch does not stream (React Native): poll instead.
          return poll(onEvent, sub);
        }
        if (!response.ok || !response.body) {
          const problem = response.headers.get("content-type")?.includes("json")
            ? ((await response.json()) as Problem)
            : undefined;
          throw toApiError(response.status, problem);
        }
        for await (const message of readEventStream(response.body)) {
          if (message.id) lastEventId = message.id;
          if (message.data) onEvent(JSON.parse(message.data) as LiveEvent);
        }
      } catch (error) {
        if (sub.signal?.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
        sub.onError?.(error);
      }
      await sleep(sub.retryMs ?? 1_000, sub.signal).catch(() => undefined);
    }
  };

  const practise = async (
    questionId: string,
    answer: string,
    opts: WaitOptions & { durationSecs?: number; idempotencyKey?: string } = {},
  ): Promise<Attempt> => {
    const started = await api.POST("/api/v1/questions/{question_id}/attempts", {
      params: {
        path: { question_id: questionId },
        header: opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : {},
      },
      body: { answer, duration_secs: opts.durationSecs },
      signal: opts.signal,
    });
    if (started.error !== undefined) {
      throw toApiError(started.response.status, started.error, retryAfter(started.response));
    }
    await waitForJob(started.data.job_id, opts);
    const { data, error, response } = await api.GET("/api/v1/attempts/{attempt_id}", {
      params: { path: { attempt_id: started.data.attempt_id } },
      signal: opts.signal,
    });
    if (error !== undefined) throw toApiError(response.status, error);
    return data;
  };

  const review = async (
    questionId: string,
    rating: Rating,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ReviewSchedule> => {
    const { data, error, response } = await api.POST("/api/v1/questions/{question_id}/reviews", {
      params: { path: { question_id: questionId } },
      body: { rating },
      signal: opts.signal,
    });
    if (error !== undefined) throw toApiError(response.status, error);
    return data;
  };

  const dueReviews = async (
    filter: { sessionId?: string; kind?: Schemas["QuestionKind"]; signal?: AbortSignal } = {},
  ): Promise<DueItem[]> => {
    const items: DueItem[] = [];
    let cursor: string | undefined;
    do {
      const { data, error, response } = await api.GET("/api/v1/reviews/due", {
        params: { query: { session_id: filter.sessionId, kind: filter.kind, limit: 100, cursor } },
        signal: filter.signal,
      });
      if (error !== undefined) throw toApiError(response.status, error);
      items.push(...data.items);
      cursor = data.next_cursor ?? undefined;
    } while (cursor);
    return items;
  };

  async function* paginate<T>(
    page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>,
  ): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const current = await page(cursor);
      yield* current.items;
      cursor = current.next_cursor ?? undefined;
    } while (cursor);
  }

  return { api, tokens, signIn, signOut, waitForJob, subscribe, practise, review, dueReviews, paginate };
}

/** One Server-Sent Events message. */
export interface EventMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Parses a `text/event-stream` body (WHATWG rules: comments, CRLF, multi-line data). */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<EventMessage> {
  const decoder = new TextDecoder();
  let buffer = "";
  let message: EventMessage = { data: "" };
  let hasData = false;
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // A lone CR at the end may be the first half of a CRLF split across chunks.
        if (newline === buffer.length - 1 && buffer.endsWith("\r")) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (hasData) yield message;
          message = { data: "" };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") {
          message.data = hasData ? `${message.data}\n${value}` : value;
          hasData = true;
        } else if (field === "id") {
          message.id = value;
        } else if (field === "event") {
          message.event = value;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
