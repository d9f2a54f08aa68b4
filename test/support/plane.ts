// Plane, as orch's tests see it: deliveries byte-for-byte like Plane's sender (Python
// `json.dumps(payload)` signed with HMAC-SHA256), work-item payloads shaped like Plane's
// IssueExpandSerializer, and a local stand-in for the API v1 endpoints orch calls.
//
// Stand-in routes (Plane `apps/api/plane/api/urls`), each under /api/v1 and needing `X-Api-Key`
// (missing or wrong → 403 `{"detail": …}`: DRF answers a failed authentication 403 when the
// authenticator sends no WWW-Authenticate, as Plane's APIKeyAuthentication does not):
//   GET   /workspaces/{slug}/projects/{pid}/states/                    200 paginated `{results, next_cursor, next_page_results, …}`
//   GET   /workspaces/{slug}/projects/{pid}/work-items/                200 paginated work items (`state` an id)
//   POST  /workspaces/{slug}/projects/{pid}/work-items/{id}/comments/  201 comment | 400 no comment_html
//   PATCH /workspaces/{slug}/projects/{pid}/work-items/{id}/           200 work item | 400 state not of the project
// `work-items/` exists since Plane v1.1.0; the same routes under `issues/` are served by every
// version. `legacyOnly` makes the stand-in an older Plane: `work-items/` is Django's HTML 404.
// Unknown workspace or project → 404. Allowed answers carry `X-RateLimit-Remaining` and
// `X-RateLimit-Reset` (epoch seconds), as Plane's ApiKeyRateThrottle does; its window is DRF's,
// sliding (the requests of the last 60 s count); over the limit, or while `answer429(n)` is
// pending, → 429 with only `Retry-After` (seconds, DRF's `wait()` rounded up).

import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export * from '../../workflows/contracts/plane-wire.js';
export * from '../../bin/plane-payload.js';
import { botActor, DEMO_PROJECT_ID, DEMO_WORKSPACE_ID, demoStates, type PlaneStateRef } from '../../bin/plane-payload.js';

const isoNow = () => new Date().toISOString();

/** POSTs a delivery (or any raw body) to orch's webhook. */
export async function postPlaneWebhook(url: string, d: { body: string | Buffer; headers: Record<string, string> }) {
  const res = await fetch(url, { method: 'POST', headers: d.headers, body: d.body });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** What orch made of a claimed delivery (answered 202 `accepted`, acted on afterwards): its row once the act has ended. */
export async function settledDelivery(
  sql: (strings: TemplateStringsArray, ...values: string[]) => PromiseLike<readonly Record<string, any>[]>,
  deliveryId: string,
  timeoutMs = 30_000,
): Promise<{ outcome: string; detail: string | null; http_status: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql`select outcome, detail, http_status from webhook_deliveries where delivery_id = ${deliveryId} order by id limit 1`;
    if (row && row.outcome !== 'processing') return row as { outcome: string; detail: string | null; http_status: number };
    if (Date.now() > deadline) throw new Error(`delivery ${deliveryId}: ${row ? 'still processing' : 'no row'} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The run id a `started` delivery's detail names (`started task-K run R`). */
export const startedRunId = (detail: string | null): string | undefined => /\brun (\S+)$/.exec(detail ?? '')?.[1];

// ------------------------------------------------------------------------------ stand-in

export interface PlaneStandinOptions {
  apiKey: string;
  workspaceSlug: string;
  /** Project id → its states. Default: the demo project with `demoStates`. */
  projects?: Record<string, PlaneStateRef[]>;
  /** Requests per minute per key (Plane's default is 60). */
  rateLimitPerMinute?: number;
  /** Largest page a list returns (Plane caps per_page too). */
  maxPerPage?: number;
  /** An older Plane (< v1.1.0): only the `issues/` routes exist. */
  legacyOnly?: boolean;
}

export interface PlaneRecordedRequest {
  method: string;
  /** The raw path and query, as sent. */
  url: string;
  apiKey: string | null;
  contentType: string | null;
  body: unknown;
  status: number;
}

/** A work item as the stand-in keeps it (the v1 API's IssueSerializer fields orch reads). */
export interface StandinWorkItem {
  id: string;
  project: string;
  sequence_id: number;
  name: string;
  /** The state's id. */
  state: string;
  description_html: string;
  description_stripped: string | null;
  created_at: string;
  updated_at: string;
}

export interface PlaneStandin {
  /** What orch's PLANE_BASE_URL would be (the API is under `/api/v1/`). */
  baseUrl: string;
  requests: PlaneRecordedRequest[];
  /** Work item id → the comments posted on it. */
  comments: Map<string, { id: string; comment_html: string }[]>;
  /** Work item id → its state id, after PATCHes. */
  workItemStates: Map<string, string>;
  /** The board's work items, by id: what the list endpoint answers. */
  workItems: Map<string, StandinWorkItem>;
  /** Puts a work item on the board (or moves it: same id). */
  putWorkItem(o: { id: string; sequenceId: number; state: PlaneStateRef | string; name?: string; projectId?: string; description?: string }): StandinWorkItem;
  /** The next `n` requests answer 429, with `Retry-After: inSeconds` (default 1). */
  answer429(n: number, o?: { inSeconds?: number }): void;
  close(): Promise<void>;
}

class StandinError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown> | string,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

const DJANGO_404 = '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n';
const WINDOW_S = 60;

export async function startPlaneStandin(options: PlaneStandinOptions): Promise<PlaneStandin> {
  const projects = options.projects ?? { [DEMO_PROJECT_ID]: Object.values(demoStates) };
  const limit = options.rateLimitPerMinute ?? 60;
  const maxPerPage = options.maxPerPage ?? 100;
  const requests: PlaneRecordedRequest[] = [];
  const comments = new Map<string, { id: string; comment_html: string }[]>();
  const workItemStates = new Map<string, string>();
  const workItems = new Map<string, StandinWorkItem>();
  let forced = { left: 0, inSeconds: 1 };
  /** DRF's throttle history: the times (s) of the allowed requests in the window, newest first. */
  let history: number[] = [];

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new StandinError(400, { error: 'JSON parse error' });
    }
  };

  const route = (slug: string, pid: string) => {
    if (slug !== options.workspaceSlug) throw new StandinError(404, { error: 'Workspace does not exist' });
    const states = projects[pid];
    if (!states) throw new StandinError(404, { error: 'Project does not exist' });
    return { states };
  };

  /** One page of `all`, as Plane's cursor paginator answers it (cursor `per_page:page:0`). */
  const paginate = <T>(url: URL, all: T[]) => {
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 100) || 100, maxPerPage);
    const [, pageText] = (url.searchParams.get('cursor') ?? `${perPage}:0:0`).split(':');
    const page = Number(pageText) || 0;
    const results = all.slice(page * perPage, (page + 1) * perPage);
    return {
      page,
      perPage,
      body: {
        grouped_by: null,
        sub_grouped_by: null,
        total_count: all.length,
        next_cursor: `${perPage}:${page + 1}:0`,
        prev_cursor: `${perPage}:${Math.max(0, page - 1)}:0`,
        next_page_results: (page + 1) * perPage < all.length,
        prev_page_results: page > 0,
        count: results.length,
        total_pages: Math.ceil(all.length / perPage),
        total_results: all.length,
        extra_stats: null,
        results,
      },
    };
  };

  const handle = async (req: IncomingMessage, url: URL, body: unknown): Promise<[number, unknown]> => {
    const method = req.method ?? 'GET';
    const p = url.pathname;
    let m = /^\/api\/v1\/workspaces\/([^/]+)\/projects\/([^/]+)\/states\/$/.exec(p);
    if (m && method === 'GET') {
      const pid = decodeURIComponent(m[2]!);
      const { states } = route(decodeURIComponent(m[1]!), pid);
      const { page, perPage, body: out } = paginate(url, states);
      out.results = out.results.map((s, i) => ({
        id: s.id,
        name: s.name,
        color: s.color ?? '#000000',
        group: s.group,
        sequence: 15000 * (page * perPage + i + 1),
        default: s.group === 'backlog',
        description: '',
        project: pid,
        workspace: DEMO_WORKSPACE_ID,
      })) as never;
      return [200, out];
    }
    // The work-item routes, under either segment.
    m = /^\/api\/v1\/workspaces\/([^/]+)\/projects\/([^/]+)\/(work-items|issues)\/(?:([^/]+)\/)?(comments\/)?$/.exec(p);
    if (!m) throw new StandinError(404, DJANGO_404);
    if (m[3] === 'work-items' && options.legacyOnly) throw new StandinError(404, DJANGO_404);
    const pid = decodeURIComponent(m[2]!);
    const { states } = route(decodeURIComponent(m[1]!), pid);
    const issue = m[4] === undefined ? undefined : decodeURIComponent(m[4]);
    if (issue === undefined && !m[5] && method === 'GET') {
      const items = [...workItems.values()].filter((w) => w.project === pid).sort((a, b) => b.created_at.localeCompare(a.created_at));
      return [200, paginate(url, items).body];
    }
    if (issue !== undefined && m[5] && method === 'POST') {
      const html = (body as { comment_html?: unknown } | undefined)?.comment_html;
      if (typeof html !== 'string' || !html) throw new StandinError(400, { comment_html: ['This field is required.'] });
      const comment = { id: randomUUID(), comment_html: html };
      comments.set(issue, [...(comments.get(issue) ?? []), comment]);
      return [201, { ...comment, comment_stripped: html.replace(/<[^>]*>/g, ''), issue, project: pid, workspace: DEMO_WORKSPACE_ID, actor: botActor.id, created_at: isoNow() }];
    }
    if (issue !== undefined && !m[5] && method === 'PATCH') {
      const state = (body as { state?: unknown } | undefined)?.state;
      if (state !== undefined && !states.some((s) => s.id === state)) {
        throw new StandinError(400, { error: 'State is not valid please pass a valid state_id' });
      }
      if (typeof state === 'string') {
        workItemStates.set(issue, state);
        const w = workItems.get(issue);
        if (w) Object.assign(w, { state, updated_at: isoNow() });
      }
      return [200, { id: issue, state: workItemStates.get(issue) ?? null, project: pid, workspace: DEMO_WORKSPACE_ID, updated_at: isoNow() }];
    }
    throw new StandinError(405, { detail: `Method "${method}" not allowed.` });
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const apiKey = (req.headers['x-api-key'] as string | undefined) ?? null;
    const record: PlaneRecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', apiKey, contentType: req.headers['content-type'] ?? null, body: undefined, status: 0 };
    requests.push(record);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const html = typeof payload === 'string';
      res.writeHead(status, { 'content-type': html ? 'text/html; charset=utf-8' : 'application/json', ...headers });
      res.end(html ? payload : JSON.stringify(payload));
    };
    try {
      record.body = await readBody(req);
      if (!apiKey) return send(403, { detail: 'Authentication credentials were not provided.' });
      if (apiKey !== options.apiKey) return send(403, { detail: 'Given API token is not valid' });
      const now = Date.now() / 1000;
      if (forced.left > 0) {
        forced.left--;
        return send(429, { detail: `Request was throttled. Expected available in ${forced.inSeconds} seconds.` }, { 'retry-after': String(forced.inSeconds) });
      }
      // DRF SimpleRateThrottle: drop what left the window; full → wait (remaining / available).
      history = history.filter((t) => t > now - WINDOW_S);
      if (history.length >= limit) {
        const remaining = WINDOW_S - (now - history[0]!);
        const wait = Math.max(1, Math.ceil(remaining / Math.max(1, limit - history.length + 1)));
        return send(429, { detail: `Request was throttled. Expected available in ${wait} seconds.` }, { 'retry-after': String(wait) });
      }
      history.unshift(now);
      const [status, payload] = await handle(req, url, record.body);
      const oldest = history[history.length - 1]!;
      send(status, payload, { 'x-ratelimit-remaining': String(Math.max(0, limit - history.length)), 'x-ratelimit-reset': String(Math.ceil(oldest + WINDOW_S)) });
    } catch (err) {
      if (err instanceof StandinError) return send(err.status, err.body);
      send(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    requests,
    comments,
    workItemStates,
    workItems,
    putWorkItem(o) {
      const now = isoNow();
      const prior = workItems.get(o.id);
      const description = o.description ?? prior?.description_stripped ?? null;
      const item: StandinWorkItem = {
        id: o.id,
        project: o.projectId ?? prior?.project ?? DEMO_PROJECT_ID,
        sequence_id: o.sequenceId,
        name: o.name ?? prior?.name ?? `Plane item ${o.sequenceId}`,
        state: typeof o.state === 'string' ? o.state : o.state.id,
        description_html: description ? `<p>${description}</p>` : '<p></p>',
        description_stripped: description,
        created_at: prior?.created_at ?? now,
        updated_at: now,
      };
      workItems.set(o.id, item);
      return item;
    },
    answer429(n, o = {}) {
      forced = { left: n, inSeconds: o.inSeconds ?? 1 };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
