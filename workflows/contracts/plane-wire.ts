// What Plane sends, byte for byte: its sender serialises the payload with Python's `json.dumps`
// (separators ", " and ": ", ensure_ascii) and signs those bytes with HMAC-SHA256 (hex) in
// `X-Plane-Signature`. orch's webhook (api/plane/verify.ts) checks the raw bytes against
// `signPlane`; whatever sends Plane-shaped deliveries (`bin/plane-send.ts`, the benchmarks, the
// tests) builds them with `planeDelivery`.
//
// Not re-exported by the contracts barrel: it needs node:crypto, which workflow code cannot import.
import { createHmac, randomUUID } from 'node:crypto';

/** The headers of a Plane delivery (lower-case, as node presents them). */
export const PLANE_HEADERS = {
  signature: 'x-plane-signature',
  /** New on every attempt, retries included: never a dedupe key. */
  delivery: 'x-plane-delivery',
  event: 'x-plane-event',
} as const;

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
    [PLANE_HEADERS.delivery]: deliveryId,
    [PLANE_HEADERS.event]: o.event ?? String((payload as { event?: unknown })?.event ?? 'issue'),
  };
  if (o.secret !== undefined) headers[PLANE_HEADERS.signature] = signPlane(body, o.secret);
  return { body, headers, deliveryId };
}
