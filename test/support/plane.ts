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

// ------------------------------------------------------------------------ json.dumps

/** A Python float: `pyFloat(1)` serialises as `1.0`; a plain JS number is a Python int when integral. */
export class PyFloat {
  constructor(readonly value: number) {}
}
export const pyFloat = (n: number): PyFloat => new PyFloat(n);

/** Python's `repr(float)`: shortest round-trip digits; exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without an argument gives the shortest digits that round-trip, like Python.
  const [mantissa = '', expText = '0'] = x.toExponential().split('e');
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${whole}.${digits.slice(exp + 1) || '0'}`;
}

/** A JSON string literal as Python writes it with `ensure_ascii=True`. */
export function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i); // UTF-16 code units: astral characters come out as surrogate pairs, as in Python
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

const typeName = (v: unknown) => (v === null ? 'None' : typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v);

function dictKey(k: unknown): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'boolean') return k ? 'true' : 'false';
  if (k === null) return 'null';
  if (typeof k === 'bigint') return k.toString();
  if (typeof k === 'number') return Number.isInteger(k) ? BigInt(k).toString() : pythonFloatRepr(k);
  if (k instanceof PyFloat) return pythonFloatRepr(k.value);
  throw new TypeError(`keys must be str, int, float, bool or None, not ${typeName(k)}`);
}

/**
 * `json.dumps(value)` with Python's defaults: separators `", "` and `": "`, `ensure_ascii=True`,
 * keys in insertion order. A `Map` is a dict whose order is exactly its insertion order (a plain
 * object puts integer-like keys first, a JS rule Python does not have). Integral numbers are ints;
 * wrap floats in `pyFloat()`. Like Python, anything else (undefined, Date, functions) is a TypeError.
 */
export function pythonJsonDumps(value: unknown): string {
  const seen = new Set<object>();
  const enc = (v: unknown): string => {
    if (v === null) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'string') return pythonJsonString(v);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v).toString() : pythonFloatRepr(v);
    if (v instanceof PyFloat) return pythonFloatRepr(v.value);
    if (typeof v !== 'object' || v instanceof Date) throw new TypeError(`Object of type ${typeName(v)} is not JSON serializable`);
    if (seen.has(v)) throw new Error('Circular reference detected');
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map(enc).join(', ')}]`;
      const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()] : Object.entries(v);
      if (v.constructor !== Object && !(v instanceof Map) && Object.getPrototypeOf(v) !== null) {
        throw new TypeError(`Object of type ${typeName(v)} is not JSON serializable`);
      }
      return entries.length === 0 ? '{}' : `{${entries.map(([k, x]) => `${pythonJsonString(dictKey(k))}: ${enc(x)}`).join(', ')}}`;
    } finally {
      seen.delete(v);
    }
  };
  return enc(value);
}

/** `hmac.new(secret.encode(), body, sha256).hexdigest()` — what Plane puts in `X-Plane-Signature`. */
export function signPlane(body: string | Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

// ------------------------------------------------------------------------------ payloads

export const DEMO_PROJECT_ID = '00000000-0000-0000-0000-0000000000de';
export const DEMO_WORKSPACE_ID = '00000000-0000-0000-0000-00000000aaaa';

export interface PlaneStateRef {
  id: string;
  name: string;
  group: string;
  color?: string;
}

/** A demo board: the states of a project orch drives. Ids are stable per name. */
export const demoStates = {
  backlog: { id: 'a0000000-0000-4000-8000-000000000001', name: 'Backlog', group: 'backlog', color: '#60646C' },
  toAnalyse: { id: 'a0000000-0000-4000-8000-000000000002', name: 'To Analyse', group: 'unstarted', color: '#3F76FF' },
  inProgress: { id: 'a0000000-0000-4000-8000-000000000003', name: 'In Progress', group: 'started', color: '#F59E0B' },
  done: { id: 'a0000000-0000-4000-8000-000000000004', name: 'Done', group: 'completed', color: '#46A758' },
  stop: { id: 'a0000000-0000-4000-8000-000000000005', name: 'STOP', group: 'cancelled', color: '#9AA4BC' },
} satisfies Record<string, PlaneStateRef>;

export interface PlaneActor {
  id: string;
  first_name?: string;
  last_name?: string;
  email?: string;
  display_name?: string;
}

export const humanActor: PlaneActor = { id: 'b0000000-0000-4000-8000-00000000a11c', first_name: 'Alice', last_name: 'Müller', email: 'alice@example.com', display_name: 'alice' };
export const botActor: PlaneActor = { id: 'b0000000-0000-4000-8000-0000000000b0', first_name: 'orch', last_name: 'bot', email: 'orch-bot@example.com', display_name: 'orch-bot' };

export interface PlaneIssuePayloadOptions {
  event?: string;
  action?: 'created' | 'updated' | 'deleted' | string;
  /** `state` or `state_id` (one move may arrive as both), another field, or null (created). */
  field?: string | null;
  state: PlaneStateRef;
  oldState?: PlaneStateRef | null;
  issueId?: string;
  /** Plane sends an int; a string is accepted to test leniency. */
  sequenceId: number | string;
  projectId?: string;
  workspaceId?: string;
  webhookId?: string;
  name?: string;
  descriptionStripped?: string | null;
  descriptionHtml?: string;
  actor?: PlaneActor;
  /** Replaces or adds `data` fields (e.g. to send a wrong shape). */
  dataOverrides?: Record<string, unknown>;
}

const isoNow = () => new Date().toISOString(); // DjangoJSONEncoder: milliseconds and `Z`

/**
 * An `issue` delivery as Plane's webhook_send_task builds it: `data` is the work item as
 * IssueExpandSerializer renders it when the delivery is sent, `activity` the one field that changed.
 */
export function planeIssuePayload(o: PlaneIssuePayloadOptions): Record<string, unknown> {
  const projectId = o.projectId ?? DEMO_PROJECT_ID;
  const workspaceId = o.workspaceId ?? DEMO_WORKSPACE_ID;
  const actor = o.actor ?? humanActor;
  const name = o.name ?? 'Make the demo say hello';
  const html = o.descriptionHtml ?? (o.descriptionStripped ? `<p>${o.descriptionStripped}</p>` : '<p></p>');
  const field = o.field === undefined ? 'state' : o.field;
  const now = isoNow();
  const data: Record<string, unknown> = {
    id: o.issueId ?? randomUUID(),
    cycle: null,
    module: null,
    labels: [],
    assignees: [{ id: actor.id, first_name: actor.first_name ?? '', last_name: actor.last_name ?? '', email: actor.email ?? '', avatar: '', avatar_url: null, display_name: actor.display_name ?? '' }],
    state: { id: o.state.id, name: o.state.name, color: o.state.color ?? '#000000', group: o.state.group },
    description: { type: 'doc', content: [{ type: 'paragraph', content: o.descriptionStripped ? [{ type: 'text', text: o.descriptionStripped }] : [] }] },
    created_at: now,
    updated_at: now,
    deleted_at: null,
    point: null,
    name,
    description_html: html,
    description_stripped: o.descriptionStripped === undefined ? null : o.descriptionStripped,
    priority: 'none',
    start_date: null,
    target_date: null,
    sequence_id: o.sequenceId,
    sort_order: pyFloat(65535),
    completed_at: null,
    archived_at: null,
    is_draft: false,
    external_source: null,
    external_id: null,
    created_by: actor.id,
    updated_by: actor.id,
    project: projectId,
    workspace: workspaceId,
    parent: null,
    estimate_point: null,
    type: null,
    ...o.dataOverrides,
  };
  const stateValue = (s: PlaneStateRef | null | undefined) => (s ? s.id : null);
  return {
    event: o.event ?? 'issue',
    action: o.action ?? 'updated',
    webhook_id: o.webhookId ?? 'c0000000-0000-4000-8000-0000000000e6',
    workspace_id: workspaceId,
    data,
    activity: {
      field,
      new_value: field === null ? null : stateValue(o.state),
      old_value: field === null ? null : stateValue(o.oldState),
      actor: { id: actor.id, first_name: actor.first_name ?? '', last_name: actor.last_name ?? '', email: actor.email ?? '', avatar: '', avatar_url: null, display_name: actor.display_name ?? '' },
      old_identifier: null,
      new_identifier: null,
    },
  };
}

export interface PlaneDelivery {
  body: string;
  headers: Record<string, string>;
  deliveryId: string;
}

/** The body and headers Plane sends for `payload`: a fresh `X-Plane-Delivery` every time, as on a retry. */
export function planeDelivery(payload: unknown, o: { secret?: string; event?: string; deliveryId?: string } = {}): PlaneDelivery {
  const body = pythonJsonDumps(payload);
  const deliveryId = o.deliveryId ?? randomUUID();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Autopilot',
    'x-plane-delivery': deliveryId,
    'x-plane-event': o.event ?? String((payload as { event?: unknown })?.event ?? 'issue'),
  };
  if (o.secret !== undefined) headers['x-plane-signature'] = signPlane(body, o.secret);
  return { body, headers, deliveryId };
}

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
