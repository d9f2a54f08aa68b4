// Every delivery, rejected ones included, is a row in `webhook_deliveries`: outcome, HTTP status,
// size; the payload only when the signature is valid, and capped.
import { eq, sql } from 'drizzle-orm';
import type { Request } from 'express';
import type { Db } from '../../db/client.js';
import { webhookDeliveries } from '../../db/schema.js';
import { PLANE_HEADERS } from '../../workflows/contracts/plane-wire.js';
import { cut, HEADER_MAX, noNul } from './storable.js';

export interface DeliveryRow {
  deliveryId: string | null;
  event: string | null;
  action: string | null;
  signatureValid: boolean;
  contentKey: string | null;
  workItemId: string | null;
  outcome: string;
  detail: string | null;
  httpStatus: number;
  bodyBytes: number;
  payload: unknown;
}

/** A delivery as first seen: headers only, not yet trusted. */
export function deliveryOf(req: Request, bodyBytes: number): DeliveryRow {
  const header = (name: string) => cut(req.get(name)?.trim() || null, HEADER_MAX);
  return {
    deliveryId: header(PLANE_HEADERS.delivery),
    event: header(PLANE_HEADERS.event),
    action: null,
    signatureValid: false,
    contentKey: null,
    workItemId: null,
    outcome: 'rejected',
    detail: null,
    httpStatus: 0,
    bodyBytes,
    payload: null,
  };
}

/** JSON text for the jsonb column, without U+0000; a marker when unstorable (e.g. too deep). */
function jsonbText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? noNul(v) : v));
  } catch {
    return JSON.stringify({ unstorable: true });
  }
}

const text = (s: string | null | undefined): string | null => (s == null ? null : noNul(s));

/**
 * Inserts the row; returns its id. Outside a transaction, a payload PostgreSQL refuses (e.g. a lone
 * surrogate escape) is dropped and the row kept; inside one the statement's failure is final.
 */
export async function insertDelivery(db: Pick<Db, 'insert'>, row: DeliveryRow, o: { inTransaction?: boolean } = {}): Promise<number> {
  const write = async (payload: string | null) => {
    const [r] = await db
      .insert(webhookDeliveries)
      .values({
        source: 'plane',
        deliveryId: text(row.deliveryId),
        event: text(row.event),
        action: text(row.action),
        signatureValid: row.signatureValid,
        contentKey: text(row.contentKey),
        workItemId: text(row.workItemId),
        outcome: noNul(row.outcome),
        detail: cut(text(row.detail), 4000),
        httpStatus: row.httpStatus,
        bodyBytes: row.bodyBytes,
        payload: payload === null ? null : sql`${payload}::jsonb`,
      })
      .returning({ id: webhookDeliveries.id });
    return r!.id;
  };
  const payload = jsonbText(row.payload);
  try {
    return await write(payload);
  } catch (err) {
    if (payload === null || o.inTransaction) throw err;
    return write(null);
  }
}

/** What orch did with a delivery it claimed (inserted as `processing`, answered 202 before it acted). */
export async function recordOutcome(db: Db, id: number, r: { outcome: string; detail: string | null }): Promise<void> {
  await db
    .update(webhookDeliveries)
    .set({ outcome: r.outcome, detail: cut(r.detail, 4000) })
    .where(eq(webhookDeliveries.id, id));
}
