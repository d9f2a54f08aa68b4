// Is this delivery Plane's? The raw body (at most ORCH_WEBHOOK_MAX_BYTES), signed with the shared
// secret: HMAC-SHA256 hex in `X-Plane-Signature`, compared in constant time. Nothing is parsed first.
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import { PLANE_HEADERS, signPlane } from '../../workflows/contracts/plane-wire.js';

/** The body as bytes, whatever its content type; over `maxBytes` → a body-parser `entity.too.large` error. */
export const rawBody = (maxBytes: number): RequestHandler => express.raw({ type: () => true, limit: maxBytes });

/** HMAC-SHA256 hex of the raw body, compared in constant time. */
export function verifyPlaneSignature(raw: Buffer, signature: string | undefined, secret: string): boolean {
  const expected = Buffer.from(signPlane(raw, secret), 'hex');
  const given = (signature ?? '').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(given)) {
    timingSafeEqual(expected, expected); // same work either way
    return false;
  }
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

/** Why a delivery is not trusted (answered 401), or null when its signature is good. */
export function untrusted(body: Buffer, headers: { get(name: string): string | undefined }, secret: string): { error: string; detail?: string } | null {
  const signature = headers.get(PLANE_HEADERS.signature);
  if (!signature) return { error: 'missing X-Plane-Signature header' };
  if (verifyPlaneSignature(body, signature, secret)) return null;
  return {
    error: 'X-Plane-Signature does not match the body (wrong PLANE_WEBHOOK_SECRET, or the body was altered)',
    // Lets an operator compare with what the sender signed, without storing an untrusted body.
    detail: `body sha256 ${createHash('sha256').update(body).digest('hex')}`,
  };
}
