// Dedupe by content, race-safe. Plane sends one move twice (a `state` and a `state_id` delivery)
// and retries with a new delivery id, so the key is the content: work item + `state` + new state id.
// A delivery whose content orch acted on (or is acting on) within the window is a duplicate; one
// that was only ignored or failed does not block the next. The check and the claim (the row,
// inserted as `processing`) run in one transaction under an advisory lock on the content key, so
// concurrent identical deliveries cannot both act.
import { and, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { webhookDeliveries } from '../../db/schema.js';
import { insertDelivery, type DeliveryRow } from './deliveries.js';
import { ACTED_OUTCOMES } from './outcome.js';

export interface PriorDelivery {
  deliveryId: string | null;
  outcome: string;
  receivedAt: string;
}

/**
 * Records `row` (its contentKey set) as `duplicate` of the prior delivery when there is one, else
 * as `processing` (`claimed`: the caller acts, then records the outcome). Returns the row's id.
 */
export async function claimContent(db: Db, row: DeliveryRow & { contentKey: string }, o: { windowMs: number; claimed: string }): Promise<{ id: number; prior: PriorDelivery | undefined }> {
  const w = webhookDeliveries;
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${row.contentKey}))`);
    const [prior] = await tx
      .select({ deliveryId: w.deliveryId, outcome: w.outcome, receivedAt: sql<string>`${w.receivedAt}::text` })
      .from(w)
      .where(
        and(
          eq(w.contentKey, row.contentKey),
          gt(w.receivedAt, sql`now() - ${o.windowMs}::int * interval '1 millisecond'`),
          inArray(w.outcome, [...ACTED_OUTCOMES]),
        ),
      )
      .orderBy(desc(w.receivedAt))
      .limit(1);
    const id = await insertDelivery(
      tx,
      prior
        ? { ...row, outcome: 'duplicate', httpStatus: 200, detail: `same change as delivery ${prior.deliveryId ?? '?'} (${prior.outcome}) at ${prior.receivedAt}` }
        : { ...row, outcome: 'processing', httpStatus: 202, detail: o.claimed },
      { inTransaction: true },
    );
    return { id, prior };
  });
}
