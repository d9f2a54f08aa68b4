// POST /webhooks/plane — the Plane board drives orch. Mounted without the bearer token: the HMAC
// signature is the authentication, and unsigned input is never accepted.
//
// Per delivery: verify (verify.ts) → decide (decide.ts; comments: comment.ts) → dedupe and claim
// (dedupe.ts) → answer → act (act.ts). Every delivery is recorded (deliveries.ts), whatever its
// outcome; a failing record never changes the answer.
//
// Plane's sender (bgtasks/webhook_task.py): the body is Python `json.dumps(payload)`, signed with
// HMAC-SHA256 hex in `X-Plane-Signature`; `X-Plane-Delivery` is new on every attempt; Plane retries
// only on connection errors and timeouts, never on an HTTP status; one move may arrive twice, as a
// `state` and a `state_id` delivery, each carrying the work item as it is when it is sent.
//
// So a move to act on is answered 202 `accepted` as soon as its claim (the row, `processing`) is
// committed, and acted on afterwards: nothing that goes wrong while acting (Temporal slow or
// away) can turn into an error status Plane would drop the move for. The act's outcome lands in
// the row. Where even the claim cannot be written (PostgreSQL down) the answer is 503, and the
// Plane reconciler (activities/plane-reconcile.ts) finds the move on the board within its interval.
//
// Consequence of the dedupe window (ORCH_WEBHOOK_DEDUPE_WINDOW_MS): moving an item to STOP and back
// to To Analyse restarts it only when the previous To Analyse is older than the window; inside it
// the new move is a `duplicate` (deliberately: a late, re-ordered copy of the old move must not
// restart a stopped task). The start itself is idempotent (USE_EXISTING), so even a race cannot
// make two workflows.
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../db/client.js';
import { messageOf } from '../errors.js';
import { createPlaneActions, type Acted, type PlaneActionDeps } from './act.js';
import type { PlaneBridgeConfig } from './config.js';
import { decide, type DeliveryFacts } from './decide.js';
import { claimContent } from './dedupe.js';
import { deliveryOf, insertDelivery, recordOutcome, type DeliveryRow } from './deliveries.js';
import { cut } from './storable.js';
import { rawBody, untrusted } from './verify.js';

/** How long a comment's delivery counts as a duplicate of an earlier one (days: Plane's retries are over in about an hour). */
const COMMENT_DEDUPE_WINDOW_MS = 7 * 24 * 3600_000;

export interface PlaneWebhookDeps extends PlaneActionDeps {
  db: Db;
  /** Live: read on every delivery (but the body limit, read once). */
  plane: PlaneBridgeConfig;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

const withFacts = (row: DeliveryRow, f: DeliveryFacts): DeliveryRow => ({
  ...row,
  payload: f.payload,
  ...(f.event !== undefined && { event: f.event }),
  ...(f.action !== undefined && { action: f.action }),
  ...(f.workItemId !== undefined && { workItemId: f.workItemId }),
});

export function createPlaneWebhookRouter(d: PlaneWebhookDeps): Router {
  const cfg = d.plane;
  const log = d.log ?? { info() {}, warn() {}, error() {} };
  const act = createPlaneActions(d);

  /** Records the delivery, then answers. */
  async function finish(res: Response, row: DeliveryRow, body: Record<string, unknown>) {
    try {
      await insertDelivery(d.db, row);
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: could not record delivery');
    }
    log.info({ deliveryId: row.deliveryId, outcome: row.outcome, status: row.httpStatus, workItemId: row.workItemId }, 'plane webhook');
    res.status(row.httpStatus).json(body);
  }

  const reject = (res: Response, row: DeliveryRow, status: number, error: string, extra: Record<string, unknown> = {}) =>
    finish(res, { ...row, outcome: `rejected: ${cut(error, 200)}`, detail: row.detail ? `${error}; ${row.detail}` : error, httpStatus: status }, { outcome: 'rejected', error, ...extra });

  const requireSecret: RequestHandler = (req, res, next) => {
    if (cfg.webhookSecret) return next();
    const bytes = Number(req.get('content-length')) || 0;
    void reject(res, deliveryOf(req, bytes), 503, 'the Plane webhook is disabled: PLANE_WEBHOOK_SECRET is not set, and unsigned deliveries are never accepted');
  };

  async function handle(req: Request, res: Response) {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let row = deliveryOf(req, body.length);

    const distrust = untrusted(body, req, cfg.webhookSecret!);
    if (distrust) return reject(res, { ...row, detail: distrust.detail ?? null }, 401, distrust.error);
    row.signatureValid = true;

    const decision = decide(body, cfg);
    row = withFacts(row, decision.facts);
    if (decision.kind === 'reject') return reject(res, row, 400, decision.error, decision.extra);
    if ('warning' in decision && decision.warning) log.warn({ ...decision.warning.fields, deliveryId: row.deliveryId }, decision.warning.message);
    const ignore = (why: string, key?: string) => {
      const outcome = `ignored: ${why}`;
      return finish(res, { ...row, outcome, httpStatus: 200 }, { outcome, deliveryId: row.deliveryId, ...(key !== undefined && { key }) });
    };
    if (decision.kind === 'ignore') return ignore(decision.why, decision.key);

    // A comment names its work item, not its task: the task is the work item's live one.
    let key: string;
    if (decision.kind === 'decide') {
      const found = await act.taskKeyOf(decision.workItemId).catch((err: unknown) => err as Error);
      if (found instanceof Error) {
        const message = messageOf(found);
        return finish(res, { ...row, outcome: `error: ${cut(message, 200)}`, httpStatus: 503, detail: message }, { outcome: 'error', error: `could not look the task up: ${message}` });
      }
      if (!found) return ignore(`work item ${decision.workItemId} has no orch task`);
      key = found;
    } else key = decision.key;

    const claimRow = { ...row, contentKey: cut(decision.contentKey, 300)! };
    let claim;
    try {
      // A comment is one act whenever it comes back (Plane retries for up to about an hour): a late
      // copy must not decide a later approval stage.
      const windowMs = decision.kind === 'decide' ? Math.max(cfg.dedupeWindowMs, COMMENT_DEDUPE_WINDOW_MS) : cfg.dedupeWindowMs;
      claim = await claimContent(d.db, claimRow, { windowMs, claimed: `${decision.kind === 'decide' ? decision.command : decision.kind} ${key}` });
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: dedupe check failed');
      const message = messageOf(err);
      return finish(res, { ...claimRow, outcome: `error: ${cut(message, 200)}`, httpStatus: 503, detail: message }, { outcome: 'error', error: `could not record the delivery: ${message}` });
    }
    if (claim.prior) {
      log.info({ deliveryId: row.deliveryId, key, outcome: 'duplicate' }, 'plane webhook');
      return void res.status(200).json({ outcome: 'duplicate', deliveryId: row.deliveryId, key, of: claim.prior.deliveryId });
    }

    const kind = decision.kind === 'decide' ? decision.command : decision.kind;
    log.info({ deliveryId: row.deliveryId, key, outcome: 'accepted', action: kind }, 'plane webhook');
    res.status(202).json({ outcome: 'accepted', action: kind, key, deliveryId: row.deliveryId });

    const acting =
      decision.kind === 'start' ? act.start(key, decision.request) : decision.kind === 'stop' ? act.stop(key, decision.request) : act.decide(key, decision.command, decision.request);
    const result: Acted = await acting.catch((err: unknown) => {
      const message = messageOf(err);
      return { outcome: `error: ${cut(message, 200)}`, detail: message };
    });
    try {
      await recordOutcome(d.db, claim.id, result);
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: could not record the outcome');
    }
    log.info({ deliveryId: row.deliveryId, key, outcome: result.outcome }, 'plane webhook');
  }

  // Body-parser failures (413 too large, 400 aborted, 415 encoding) are deliveries too.
  const bodyErrors: ErrorRequestHandler = async (err: unknown, req, res, next) => {
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string; length?: number; received?: number };
    const status = e?.status ?? e?.statusCode ?? 500;
    if (res.headersSent) return next(err);
    const bytes = e?.length ?? e?.received ?? (Number(req.get('content-length')) || 0);
    const row = deliveryOf(req, bytes);
    if (e?.type === 'entity.too.large') {
      return reject(res, row, 413, `body of ${bytes} bytes is over the limit of ${cfg.webhookMaxBytes} (ORCH_WEBHOOK_MAX_BYTES)`);
    }
    if (status >= 400 && status < 500) return reject(res, row, status, e?.message ?? 'bad request');
    log.error({ err }, 'plane webhook: unexpected error');
    return finish(res, { ...row, outcome: `error: ${cut(e?.message ?? 'internal error', 200)}`, httpStatus: 500 }, { outcome: 'error', error: e?.message ?? 'internal error' });
  };

  return express.Router().post('/', requireSecret, rawBody(cfg.webhookMaxBytes), handle).use(bodyErrors);
}
