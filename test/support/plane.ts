// Plane, as orch's tests see it: deliveries byte-for-byte like Plane's sender (Python
// `json.dumps(payload)` signed with HMAC-SHA256), work-item payloads shaped like Plane's
// IssueExpandSerializer, and a local stand-in for the API v1 endpoints orch calls.
//
// Stand-in routes (Plane `apps/api/plane/api/urls`), each under /api/v1 and needing `X-Api-Key`
// (missing or wrong → 401 `{"detail": …}`):
//   GET   /workspaces/{slug}/projects/{pid}/states/                    200 paginated `{results, next_cursor, next_page_results, …}`
//   POST  /workspaces/{slug}/projects/{pid}/work-items/{id}/comments/  201 comment | 400 no comment_html
//   PATCH /workspaces/{slug}/projects/{pid}/work-items/{id}/           200 work item | 400 state not of the project
// Unknown workspace or project → 404. Allowed answers carry `X-RateLimit-Remaining` and
// `X-RateLimit-Reset` (epoch seconds), as Plane's ApiKeyRateThrottle does; over the limit, or
// while `answer429(n)` is pending, → 429 with `Retry-After`.

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

// ------------------------------------------------------------------------------ stand-in

export interface PlaneStandinOptions {
  apiKey: string;
  workspaceSlug: string;
  /** Project id → its states. Default: the demo project with `demoStates`. */
  projects?: Record<string, PlaneStateRef[]>;
  /** Requests per minute per key (Plane's default is 60). */
  rateLimitPerMinute?: number;
  /** Largest page the states list returns (Plane caps per_page too). */
  maxPerPage?: number;
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

export interface PlaneStandin {
  /** What orch's PLANE_BASE_URL would be (the API is under `/api/v1/`). */
  baseUrl: string;
  requests: PlaneRecordedRequest[];
  /** Work item id → the comments posted on it. */
  comments: Map<string, { id: string; comment_html: string }[]>;
  /** Work item id → its state id, after PATCHes. */
  workItemStates: Map<string, string>;
  /**
   * The next `n` requests answer 429. `reset` says how the reset is announced: `epoch`
   * (`X-RateLimit-Reset` in epoch seconds, Plane's format), `delta` (seconds from now), or
   * `retry-after` (only a `Retry-After` header, as DRF's throttle sends).
   */
  answer429(n: number, o?: { inSeconds?: number; reset?: 'epoch' | 'delta' | 'retry-after' }): void;
  close(): Promise<void>;
}

class StandinError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(JSON.stringify(body));
  }
}

export async function startPlaneStandin(options: PlaneStandinOptions): Promise<PlaneStandin> {
  const projects = options.projects ?? { [DEMO_PROJECT_ID]: Object.values(demoStates) };
  const limit = options.rateLimitPerMinute ?? 60;
  const maxPerPage = options.maxPerPage ?? 100;
  const requests: PlaneRecordedRequest[] = [];
  const comments = new Map<string, { id: string; comment_html: string }[]>();
  const workItemStates = new Map<string, string>();
  let forced: { left: number; inSeconds: number; reset: 'epoch' | 'delta' | 'retry-after' } = { left: 0, inSeconds: 1, reset: 'epoch' };
  let windowStart = Date.now();
  let used = 0;

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

  const route = (method: string, path: string, slug: string, pid: string) => {
    if (slug !== options.workspaceSlug) throw new StandinError(404, { error: 'Workspace does not exist' });
    const states = projects[pid];
    if (!states) throw new StandinError(404, { error: 'Project does not exist' });
    return { method, path, states };
  };

  const handle = async (req: IncomingMessage, url: URL, body: unknown): Promise<[number, unknown]> => {
    const method = req.method ?? 'GET';
    const p = url.pathname;
    let m = /^\/api\/v1\/workspaces\/([^/]+)\/projects\/([^/]+)\/states\/$/.exec(p);
    if (m && method === 'GET') {
      const { states } = route(method, p, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 100) || 100, maxPerPage);
      const [, pageText] = (url.searchParams.get('cursor') ?? `${perPage}:0:0`).split(':');
      const page = Number(pageText) || 0;
      const results = states.slice(page * perPage, (page + 1) * perPage).map((s, i) => ({
        id: s.id,
        name: s.name,
        color: s.color ?? '#000000',
        group: s.group,
        sequence: 15000 * (page * perPage + i + 1),
        default: s.group === 'backlog',
        description: '',
        project: decodeURIComponent(m![2]!),
        workspace: DEMO_WORKSPACE_ID,
      }));
      const more = (page + 1) * perPage < states.length;
      return [
        200,
        {
          grouped_by: null,
          sub_grouped_by: null,
          total_count: states.length,
          next_cursor: `${perPage}:${page + 1}:0`,
          prev_cursor: `${perPage}:${Math.max(0, page - 1)}:0`,
          next_page_results: more,
          prev_page_results: page > 0,
          count: results.length,
          total_pages: Math.ceil(states.length / perPage),
          total_results: states.length,
          extra_stats: null,
          results,
        },
      ];
    }
    m = /^\/api\/v1\/workspaces\/([^/]+)\/projects\/([^/]+)\/work-items\/([^/]+)\/comments\/$/.exec(p);
    if (m && method === 'POST') {
      route(method, p, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      const html = (body as { comment_html?: unknown } | undefined)?.comment_html;
      if (typeof html !== 'string' || !html) throw new StandinError(400, { comment_html: ['This field is required.'] });
      const issue = decodeURIComponent(m[3]!);
      const comment = { id: randomUUID(), comment_html: html };
      comments.set(issue, [...(comments.get(issue) ?? []), comment]);
      return [201, { ...comment, comment_stripped: html.replace(/<[^>]*>/g, ''), issue, project: decodeURIComponent(m[2]!), workspace: DEMO_WORKSPACE_ID, actor: botActor.id, created_at: isoNow() }];
    }
    m = /^\/api\/v1\/workspaces\/([^/]+)\/projects\/([^/]+)\/work-items\/([^/]+)\/$/.exec(p);
    if (m && method === 'PATCH') {
      const { states } = route(method, p, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      const state = (body as { state?: unknown } | undefined)?.state;
      if (state !== undefined && !states.some((s) => s.id === state)) {
        throw new StandinError(400, { error: 'State is not valid please pass a valid state_id' });
      }
      const issue = decodeURIComponent(m[3]!);
      if (typeof state === 'string') workItemStates.set(issue, state);
      return [200, { id: issue, state: workItemStates.get(issue) ?? null, project: decodeURIComponent(m[2]!), workspace: DEMO_WORKSPACE_ID, updated_at: isoNow() }];
    }
    throw new StandinError(404, { detail: 'Not found.' });
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const apiKey = (req.headers['x-api-key'] as string | undefined) ?? null;
    const record: PlaneRecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', apiKey, contentType: req.headers['content-type'] ?? null, body: undefined, status: 0 };
    requests.push(record);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    try {
      record.body = await readBody(req);
      if (!apiKey) return send(401, { detail: 'Authentication credentials were not provided.' });
      if (apiKey !== options.apiKey) return send(401, { detail: 'Given API token is not valid' });
      const nowS = Date.now() / 1000;
      if (forced.left > 0) {
        forced.left--;
        const at = Math.ceil(nowS + forced.inSeconds);
        const headers: Record<string, string> =
          forced.reset === 'retry-after'
            ? { 'retry-after': String(forced.inSeconds) }
            : { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(forced.reset === 'epoch' ? at : forced.inSeconds) };
        return send(429, { detail: `Request was throttled. Expected available in ${forced.inSeconds} seconds.` }, headers);
      }
      if (Date.now() - windowStart >= 60_000) {
        windowStart = Date.now();
        used = 0;
      }
      const resetAt = Math.ceil((windowStart + 60_000) / 1000);
      if (used >= limit) {
        return send(429, { detail: 'Request was throttled.' }, { 'retry-after': String(Math.max(1, Math.ceil(resetAt - nowS))) });
      }
      used++;
      const [status, payload] = await handle(req, url, record.body);
      send(status, payload, { 'x-ratelimit-remaining': String(Math.max(0, limit - used)), 'x-ratelimit-reset': String(resetAt) });
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
    answer429(n, o = {}) {
      forced = { left: n, inSeconds: o.inSeconds ?? 1, reset: o.reset ?? 'epoch' };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
