// Plane signs Python's `json.dumps(payload)`; orch verifies the raw bytes. These tests pin the
// serialiser the other tests sign with, and the verification itself.
import * as crypto from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { verifyPlaneSignature } from '../../api/plane/verify.js';
import { demoStates, planeIssuePayload, pyFloat, pythonFloatRepr, pythonJsonDumps, signPlane } from '../support/plane.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

// Expected strings are what CPython 3 prints for the same value with `json.dumps(value)`.
describe('pythonJsonDumps', () => {
  it('uses Python\'s separators and escapes non-ASCII as \\uXXXX', () => {
    expect(pythonJsonDumps({ a: 'é', b: [1, 2] })).toBe('{"a": "\\u00e9", "b": [1, 2]}');
    expect(pythonJsonDumps({ nested: { x: null, y: true, z: false }, empty: {}, list: [] })).toBe(
      '{"nested": {"x": null, "y": true, "z": false}, "empty": {}, "list": []}',
    );
    expect(pythonJsonDumps('Müller ñ 中文')).toBe('"M\\u00fcller \\u00f1 \\u4e2d\\u6587"');
  });

  it('writes astral characters as a surrogate pair, lower-case hex', () => {
    expect(pythonJsonDumps('😀')).toBe('"\\ud83d\\ude00"');
    expect(pythonJsonDumps({ name: 'Grüße 😀' })).toBe('{"name": "Gr\\u00fc\\u00dfe \\ud83d\\ude00"}');
  });

  it('escapes control characters and DEL like Python, and leaves / alone', () => {
    expect(pythonJsonDumps('\t\n\r\b\f\u0001\u001f\u007f')).toBe('"\\t\\n\\r\\b\\f\\u0001\\u001f\\u007f"');
    expect(pythonJsonDumps('a"b\\c</script>')).toBe('"a\\"b\\\\c</script>"');
  });

  it('keeps key order; a Map keeps even integer-like keys where they were put', () => {
    expect(pythonJsonDumps({ z: 1, a: 2, m: 3 })).toBe('{"z": 1, "a": 2, "m": 3}');
    expect(pythonJsonDumps(new Map<unknown, unknown>([['b', 1], [2, 'two'], [null, 0], [pyFloat(1.5), 'x']]))).toBe(
      '{"b": 1, "2": "two", "null": 0, "1.5": "x"}',
    );
  });

  it('prints ints as ints and floats like Python\'s repr', () => {
    expect(pythonJsonDumps(65535)).toBe('65535');
    expect(pythonJsonDumps(1e21)).toBe('1000000000000000000000');
    expect(pythonJsonDumps(pyFloat(65535))).toBe('65535.0');
    expect(pythonJsonDumps(0.1)).toBe('0.1');
    const cases: [number, string][] = [
      [1, '1.0'],
      [-2.5, '-2.5'],
      [-0, '-0.0'],
      [1e16, '1e+16'],
      [1e15, '1000000000000000.0'],
      [1e-5, '1e-05'],
      [1e-4, '0.0001'],
      [123456789012345678, '1.2345678901234568e+17'],
      [1 / 3, '0.3333333333333333'],
      [5e-324, '5e-324'],
      [Infinity, 'Infinity'],
    ];
    for (const [x, py] of cases) expect(pythonFloatRepr(x), String(x)).toBe(py);
  });

  it('refuses what Python cannot serialise', () => {
    expect(() => pythonJsonDumps({ a: undefined })).toThrow(/not JSON serializable/);
    expect(() => pythonJsonDumps(new Date())).toThrow(/not JSON serializable/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => pythonJsonDumps(loop)).toThrow(/Circular reference/);
  });

  it('round-trips a Plane payload: parsing and re-dumping gives the same bytes', () => {
    const body = pythonJsonDumps(planeIssuePayload({ state: demoStates.toAnalyse, sequenceId: 7, name: 'Grüße 😀 "x"', descriptionStripped: '@agent hang' }));
    expect(body).toMatch(/^\{"event": "issue", "action": "updated", "webhook_id": /);
    expect(body).toContain('"sort_order": 65535.0');
    expect(/[^\x20-\x7e]/.test(body)).toBe(false); // ensure_ascii: the body is pure ASCII
    const reparsed = JSON.parse(body) as Record<string, any>;
    reparsed.data.sort_order = pyFloat(reparsed.data.sort_order);
    expect(pythonJsonDumps(reparsed)).toBe(body);
  });
});

describe('verifyPlaneSignature', () => {
  const secret = 'plane-secret';
  // hmac.new(b'plane-secret', json.dumps({...}).encode(), sha256).hexdigest(), computed with CPython.
  const pythonBody = '{"event": "issue", "action": "updated", "data": {"name": "Gr\\u00fc\\u00dfe \\ud83d\\ude00"}}';
  const pythonSignature = '12d69da349a98b0c8957e71a753d0a4591248d7157ca1e632fe921dac691d71e';
  const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);
  beforeEach(() => {
    timingSafeEqual.mockClear();
  });

  it('matches Plane\'s signature byte for byte', () => {
    expect(pythonJsonDumps({ event: 'issue', action: 'updated', data: { name: 'Grüße 😀' } })).toBe(pythonBody);
    expect(signPlane(pythonBody, secret)).toBe(pythonSignature);
    expect(verifyPlaneSignature(Buffer.from(pythonBody), pythonSignature, secret)).toBe(true);
    expect(verifyPlaneSignature(Buffer.from(pythonBody), pythonSignature.toUpperCase(), secret)).toBe(true);
  });

  it('accepts a Plane-style delivery and rejects any change to it', () => {
    const body = pythonJsonDumps(planeIssuePayload({ state: demoStates.stop, sequenceId: 12 }));
    const sig = signPlane(body, secret);
    expect(verifyPlaneSignature(Buffer.from(body), sig, secret)).toBe(true);
    // One byte changed.
    const tampered = body.replace('"sequence_id": 12', '"sequence_id": 13');
    expect(tampered).not.toBe(body);
    expect(verifyPlaneSignature(Buffer.from(tampered), sig, secret)).toBe(false);
    // Same content, other bytes (compact JSON): the signature is over bytes, so this fails too.
    expect(verifyPlaneSignature(Buffer.from(JSON.stringify(JSON.parse(body))), sig, secret)).toBe(false);
    // Wrong secret.
    expect(verifyPlaneSignature(Buffer.from(body), signPlane(body, 'other'), secret)).toBe(false);
  });

  it('rejects malformed signatures without throwing', () => {
    const body = Buffer.from(pythonBody);
    for (const bad of [undefined, '', 'abc', `sha256=${pythonSignature}`, `${pythonSignature}00`, pythonSignature.slice(0, 63) + 'g']) {
      expect(verifyPlaneSignature(body, bad, secret), String(bad)).toBe(false);
    }
  });

  it('compares in constant time, whatever the signature looks like', () => {
    const body = Buffer.from(pythonBody);
    verifyPlaneSignature(body, pythonSignature, secret);
    verifyPlaneSignature(body, signPlane(pythonBody, 'other'), secret);
    verifyPlaneSignature(body, 'not-hex', secret);
    expect(timingSafeEqual).toHaveBeenCalledTimes(3);
    for (const [a, b] of timingSafeEqual.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });
});
