// What Plane sends, byte for byte: its sender serialises the payload with Python's `json.dumps`
// (separators ", " and ": ", ensure_ascii) and signs those bytes with HMAC-SHA256 (hex). orch's
// webhook only verifies raw bytes; this module is for whatever sends Plane-shaped deliveries:
// `bin/plane-send.ts` (the README's example), the benchmarks and the tests.
import { createHmac, randomUUID } from 'node:crypto';

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
