// POST /webhooks/plane — the Plane board drives orch. Mounted without the bearer token: the
// HMAC signature is the authentication, and unsigned input is never accepted.
//
// What acts (everything else is answered 2xx `ignored: <why>` and recorded):
//   event `issue`, action `updated`/`created`, `activity.field` `state` or `state_id`, and the
//   work item's state name (`data.state.name`, trimmed, case-insensitive) equal to
//     ORCH_PLANE_START_STATE (`To Analyse`) → start task `<IDENTIFIER>-<sequence_id>` (USE_EXISTING);
//     ORCH_PLANE_STOP_STATE  (`STOP`)       → stop it (when ORCH_STOP_STATUS_ENABLED and the repo is
//                                             allowed by ORCH_STOP_STATUS_REPOS).
//   Only these exact names act: a board without them starts and stops nothing (fail closed).
//   The work item's project must be mapped in ORCH_PLANE_PROJECTS; orch's own writes (actor =
//   PLANE_BOT_USER_ID) are echoes and ignored.
//
// Plane's sender (bgtasks/webhook_task.py): the body is Python `json.dumps(payload)`, signed with
// HMAC-SHA256 hex in `X-Plane-Signature`; `X-Plane-Delivery` is new on every attempt; Plane retries
// only on connection errors and timeouts, never on an HTTP status; one move may arrive twice, as a
// `state` and a `state_id` delivery, each carrying the work item as it is when it is sent.
//
// Dedupe is by content, not delivery id: content key = work item id + `state` + new state id. A
// delivery whose content key orch acted on (`started`, `stop-signalled`, or still processing)
// within ORCH_WEBHOOK_DEDUPE_WINDOW_MS (default 60 s) is a `duplicate`; one that was only
// `ignored` (e.g. the task was still being stopped) or failed does not block the next. The check and the claim run in one transaction under
// `pg_advisory_xact_lock(hashtext(content_key))`, so concurrent identical deliveries cannot both
// act; and the start itself is idempotent (USE_EXISTING), so even a race cannot make two workflows.
// Consequence of the window: moving an item to STOP and back to To Analyse restarts it only when
// the previous To Analyse is older than the window; inside it the new move is a `duplicate`
// (deliberately: a late, re-ordered copy of the old move must not restart a stopped task).
//
// Every delivery, rejected ones included, is a row in `webhook_deliveries` (outcome, HTTP status,
// size; the payload only when the signature is valid, and capped).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type postgres from 'postgres';
import { z } from 'zod';
import type { Records } from '../activities/records.js';
import type { PlaneConfig } from '../worker/config.js';
import type { Logger } from '../worker/log.js';
import { HttpError, startTaskSchema, taskKeySchema, type TaskService } from './tasks.js';

export interface PlaneWebhookDeps {
  tasks: Pick<TaskService, 'start' | 'stop'>;
  client: Client;
  sql: postgres.Sql;
  records: Pick<Records, 'taskByKey'>;
  plane: PlaneConfig;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** What the webhook runs with when the app is given no Plane config: everything answers 503. */
export const PLANE_WEBHOOK_DISABLED: PlaneConfig = {
  webhookSecret: undefined,
  baseUrl: undefined,
  apiKey: undefined,
  workspaceSlug: undefined,
  botUserId: undefined,
  projects: {},
  projectsSource: 'none',
  startState: 'To Analyse',
  stopState: 'STOP',
  stopStatusEnabled: true,
  stopStatusRepos: [],
  webhookMaxBytes: 256 * 1024,
  dedupeWindowMs: 60_000,
};

export type PlaneOutcome = 'started' | 'stop-signalled' | 'duplicate' | `ignored: ${string}`;

/** Payloads above this many bytes are stored as a summary. */
export const STORED_PAYLOAD_MAX_BYTES = 64 * 1024;
const STATE_FIELDS = new Set(['state', 'state_id']);
const HEADER_MAX = 200;

/** HMAC-SHA256 hex of the raw body, compared in constant time. */
export function verifyPlaneSignature(raw: Buffer, signature: string | undefined, secret: string): boolean {
  const expected = createHmac('sha256', secret).update(raw).digest();
  const given = (signature ?? '').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(given)) {
    timingSafeEqual(expected, expected); // same work either way
    return false;
  }
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

// ------------------------------------------------------------------------------- schemas

const envelopeSchema = z.object({
  event: z.string().min(1),
  action: z.string().min(1),
  webhook_id: z.string().nullish(),
  workspace_id: z.string().nullish(),
  data: z.unknown(),
  activity: z.unknown(),
});

/** Plane serialises UUIDs as strings and numbers as numbers; accept either where Plane's own types vary. */
const idLike = z.union([z.string().trim().min(1).max(100), z.number().int().nonnegative()]).transform(String);

const stateChangeSchema = z.object({
  data: z
    .object({
      id: z.string().trim().min(1).max(100),
      name: z.string().max(10_000).nullish(),
      sequence_id: z.union([z.number().int().positive().max(1e9), z.string().regex(/^\d{1,9}$/, 'a positive integer').transform(Number)]),
      project: idLike.optional(),
      project_id: idLike.optional(),
      state: z.object({
        id: idLike,
        name: z.string().max(500),
        group: z.string().nullish(),
      }),
      description_stripped: z.string().nullish(),
      description_html: z.string().nullish(),
    })
    .superRefine((d, ctx) => {
      if (d.project === undefined && d.project_id === undefined) ctx.addIssue({ code: 'custom', path: ['project'], message: 'the work item\'s project id is missing' });
    }),
  activity: z.object({
    field: z.string(),
    actor: z.object({
      id: idLike,
      display_name: z.string().nullish(),
      email: z.string().nullish(),
    }),
  }),
});
type StateChange = z.infer<typeof stateChangeSchema>;

// ------------------------------------------------------------------------------ recording

interface DeliveryRow {
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

/** JSON text for a jsonb column: PostgreSQL refuses U+0000 in jsonb strings. A marker when unstorable (e.g. too deep). */
function jsonbText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? noNul(v) : v));
  } catch {
    return JSON.stringify({ unstorable: true });
  }
}

/** PostgreSQL text columns refuse U+0000 too. */
const noNul = (s: string): string => s.replace(/\u0000/g, '\uFFFD');
const text = (s: string | null | undefined): string | null => (s == null ? null : noNul(s));

const cut = (s: string | null | undefined, n: number): string | null => (s == null ? null : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The stored payload: the whole body when small, else the fields that matter. */
function storedPayload(json: unknown, bodyBytes: number): unknown {
  if (bodyBytes <= STORED_PAYLOAD_MAX_BYTES) return json;
  const p = (json ?? {}) as Record<string, any>;
  const d = (p.data ?? {}) as Record<string, any>;
  const a = (p.activity ?? {}) as Record<string, any>;
  return {
    truncated: true,
    bodyBytes,
    event: p.event,
    action: p.action,
    webhook_id: p.webhook_id,
    workspace_id: p.workspace_id,
    activity: { field: a.field, new_value: typeof a.new_value === 'string' ? cut(a.new_value, 200) : undefined, actor: { id: a.actor?.id } },
    data: { id: d.id, name: typeof d.name === 'string' ? cut(d.name, 500) : undefined, sequence_id: d.sequence_id, project: d.project, state: d.state },
  };
}

// -------------------------------------------------------------------------------- router

export function createPlaneWebhookRouter(d: PlaneWebhookDeps): Router {
  const router = express.Router();
  const cfg = d.plane;
  const startName = cfg.startState.trim().toLowerCase();
  const stopName = cfg.stopState.trim().toLowerCase();
  const log = d.log ?? { info() {}, warn() {}, error() {} };

  const header = (req: Request, name: string) => cut(req.get(name)?.trim() || null, HEADER_MAX);
  const baseRow = (req: Request, bodyBytes: number): DeliveryRow => ({
    deliveryId: header(req, 'x-plane-delivery'),
    event: header(req, 'x-plane-event'),
    action: null,
    signatureValid: false,
    contentKey: null,
    workItemId: null,
    outcome: 'rejected',
    detail: null,
    httpStatus: 0,
    bodyBytes,
    payload: null,
  });

  async function insert(row: DeliveryRow, sql: postgres.Sql | postgres.TransactionSql = d.sql): Promise<number> {
    const write = (payload: string | null) => sql<{ id: string }[]>`
      insert into webhook_deliveries
        (source, delivery_id, event, action, signature_valid, content_key, work_item_id, outcome, detail, http_status, body_bytes, payload)
      values ('plane', ${text(row.deliveryId)}, ${text(row.event)}, ${text(row.action)}, ${row.signatureValid}, ${text(row.contentKey)}, ${text(row.workItemId)},
              ${noNul(row.outcome)}, ${cut(text(row.detail), 4000)}, ${row.httpStatus}, ${row.bodyBytes}, ${payload}::jsonb)
      returning id`;
    let payload: string | null = null;
    try {
      payload = jsonbText(row.payload);
      const [r] = await write(payload);
      return Number(r!.id);
    } catch (err) {
      if (payload === null || sql !== d.sql) throw err;
      // The payload itself may be what PostgreSQL refused: keep the record, without it.
      const [r] = await write(null);
      return Number(r!.id);
    }
  }

  /** Records the delivery, then answers. A failing record never changes the answer. */
  async function finish(res: Response, row: DeliveryRow, body: Record<string, unknown>) {
    try {
      await insert(row);
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: could not record delivery');
    }
    log.info({ deliveryId: row.deliveryId, outcome: row.outcome, status: row.httpStatus, workItemId: row.workItemId }, 'plane webhook');
    res.status(row.httpStatus).json(body);
  }

  const reject = (res: Response, row: DeliveryRow, status: number, error: string, extra: Record<string, unknown> = {}) =>
    finish(res, { ...row, outcome: `rejected: ${cut(error, 200)}`, detail: row.detail ? `${error}; ${row.detail}` : error, httpStatus: status }, { outcome: 'rejected', error, ...extra });

  const requireSecret = (req: Request, res: Response, next: NextFunction) => {
    if (cfg.webhookSecret) return next();
    const bytes = Number(req.get('content-length')) || 0;
    void reject(res, baseRow(req, bytes), 503, 'the Plane webhook is disabled: PLANE_WEBHOOK_SECRET is not set, and unsigned deliveries are never accepted');
  };

  const rawBody = express.raw({ type: () => true, limit: cfg.webhookMaxBytes });

  router.post('/', requireSecret, rawBody, async (req: Request, res: Response) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const row = baseRow(req, body.length);

    // 1. Authenticity, over the raw bytes.
    const signature = req.get('x-plane-signature');
    if (!signature) return reject(res, row, 401, 'missing X-Plane-Signature header');
    if (!verifyPlaneSignature(body, signature, cfg.webhookSecret!)) {
      const sha = createHash('sha256').update(body).digest('hex');
      return reject(res, { ...row, detail: `body sha256 ${sha}` }, 401, 'X-Plane-Signature does not match the body (wrong PLANE_WEBHOOK_SECRET, or the body was altered)');
    }
    row.signatureValid = true;

    // 2. Shape.
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return reject(res, { ...row, payload: { unparsed: body.toString('utf8', 0, Math.min(body.length, 2000)) } }, 400, `malformed JSON: ${(err as Error).message}`);
    }
    row.payload = storedPayload(json, body.length);
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) return reject(res, row, 400, ...zodMessage(envelope.error));
    const { event, action } = envelope.data;
    row.event = cut(event, HEADER_MAX);
    row.action = cut(action, HEADER_MAX);
    const ignore = (why: string, extra: Partial<DeliveryRow> = {}, bodyExtra: Record<string, unknown> = {}) =>
      finish(res, { ...row, ...extra, outcome: `ignored: ${why}`, httpStatus: 200 }, { outcome: `ignored: ${why}`, deliveryId: row.deliveryId, ...bodyExtra });

    if (event !== 'issue') return ignore(`event "${cut(event, 50)}" is not a work item event`);
    if (!['updated', 'created', 'update', 'create'].includes(action)) return ignore(`action "${cut(action, 50)}" is not a state change`);
    const field = (envelope.data.activity as { field?: unknown } | null | undefined)?.field;
    if (typeof field !== 'string' || !STATE_FIELDS.has(field)) {
      return ignore(`field ${typeof field === 'string' ? `"${cut(field, 50)}"` : String(field ?? null)} is not a state change`);
    }
    const parsed = stateChangeSchema.safeParse(json);
    if (!parsed.success) return reject(res, row, 400, ...zodMessage(parsed.error));
    const change: StateChange = parsed.data;
    const item = change.data;
    row.workItemId = cut(item.id, 100);

    // 3. Is it ours to act on?
    const actor = change.activity.actor;
    if (cfg.botUserId && actor.id === cfg.botUserId) return ignore('echo of orch\'s own write');
    const projectId = (item.project ?? item.project_id)!;
    const project = cfg.projects[projectId.toLowerCase()];
    if (!project) return ignore(`project ${cut(projectId, 100)} is not mapped in ORCH_PLANE_PROJECTS (${cfg.projectsSource})`);
    const key = `${project.identifier}-${item.sequence_id}`;
    if (!taskKeySchema.safeParse(key).success) return reject(res, row, 400, `data.sequence_id: makes an invalid task key "${key}"`, { field: 'data.sequence_id' });
    const stateName = item.state.name.trim();
    const wanted = stateName.toLowerCase();
    const verb = wanted === startName ? 'start' : wanted === stopName ? 'stop' : null;
    if (!verb) return ignore(`state "${cut(stateName, 100)}" is neither "${cfg.startState}" nor "${cfg.stopState}"`, {}, { key });
    if (verb === 'stop') {
      if (!cfg.stopStatusEnabled) {
        log.warn({ key, deliveryId: row.deliveryId }, 'plane webhook: STOP state ignored (ORCH_STOP_STATUS_ENABLED is off)');
        return ignore('stop status disabled', {}, { key });
      }
      if (cfg.stopStatusRepos.length > 0 && !cfg.stopStatusRepos.includes(project.repo)) {
        log.warn({ key, repo: project.repo }, 'plane webhook: STOP state ignored (repo not in ORCH_STOP_STATUS_REPOS)');
        return ignore(`stop status disabled for repo ${project.repo} (ORCH_STOP_STATUS_REPOS)`, {}, { key });
      }
      if (item.state.group && item.state.group !== 'cancelled') {
        log.warn({ key, group: item.state.group }, `plane webhook: the "${stateName}" state is in group ${item.state.group}, not cancelled`);
      }
    }

    // 4. Dedupe by content, race-safe: check and claim under one advisory lock.
    const contentKey = `plane:${item.id}:state:${item.state.id}`;
    row.contentKey = cut(contentKey, 300);
    let claim: { id: number; prior: { delivery_id: string | null; outcome: string; received_at: string } | undefined };
    try {
      claim = await d.sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext(${row.contentKey}))`;
        const [prior] = await tx<{ delivery_id: string | null; outcome: string; received_at: string }[]>`
          select delivery_id, outcome, received_at::text as received_at from webhook_deliveries
          where content_key = ${row.contentKey}
            and received_at > now() - ${cfg.dedupeWindowMs}::int * interval '1 millisecond'
            and outcome in ('processing', 'started', 'stop-signalled')
          order by received_at desc limit 1`;
        const id = await insert(
          prior
            ? { ...row, outcome: 'duplicate', httpStatus: 200, detail: `same change as delivery ${prior.delivery_id ?? '?'} (${prior.outcome}) at ${prior.received_at}` }
            : { ...row, outcome: 'processing', httpStatus: 202, detail: `${verb} ${key}` },
          tx,
        );
        return { id, prior };
      });
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: dedupe check failed');
      return finish(res, { ...row, outcome: `error: ${cut((err as Error).message, 200)}`, httpStatus: 503, detail: (err as Error).message }, {
        outcome: 'error',
        error: `could not record the delivery: ${(err as Error).message}`,
      });
    }
    if (claim.prior) {
      log.info({ deliveryId: row.deliveryId, key, outcome: 'duplicate' }, 'plane webhook');
      return void res.status(200).json({ outcome: 'duplicate', deliveryId: row.deliveryId, key, of: claim.prior.delivery_id });
    }

    // 5. Act. Starting a workflow or sending a signal is the whole job: Temporal makes it durable.
    const result = await (verb === 'start' ? startTask(key, project.repo, item) : stopTask(key, actor)).catch((err: Error) => ({
      outcome: `error: ${cut(err.message, 200)}`,
      status: 503,
      body: { outcome: 'error', error: err.message, key } as Record<string, unknown>,
      detail: err.message,
    }));
    try {
      await d.sql`update webhook_deliveries set outcome = ${result.outcome}, http_status = ${result.status}, detail = ${cut(result.detail, 4000)} where id = ${claim.id}`;
    } catch (err) {
      log.error({ err, deliveryId: row.deliveryId }, 'plane webhook: could not record the outcome');
    }
    log.info({ deliveryId: row.deliveryId, key, outcome: result.outcome }, 'plane webhook');
    res.status(result.status).json({ ...result.body, outcome: result.body.outcome ?? result.outcome, deliveryId: row.deliveryId });
  });

  interface Acted {
    outcome: string;
    status: number;
    body: Record<string, unknown>;
    detail: string | null;
  }
  const ignored = (key: string, why: string, extra: Record<string, unknown> = {}): Acted => ({
    outcome: `ignored: ${why}`,
    status: 200,
    body: { outcome: `ignored: ${why}`, key, ...extra },
    detail: why,
  });

  async function startTask(key: string, repo: string, item: StateChange['data']): Promise<Acted> {
    const title = (item.name ?? '').replace(/\s+/g, ' ').trim().slice(0, 500) || `Plane work item ${key}`;
    const description = descriptionOf(item);
    const parsed = startTaskSchema.safeParse({
      key,
      repo,
      title,
      ...(description ? { description } : {}),
      planeIssueId: item.id,
      planeProjectId: (item.project ?? item.project_id)!,
    });
    if (!parsed.success) {
      const [error] = zodMessage(parsed.error);
      return { outcome: `rejected: ${error}`, status: 400, body: { outcome: 'rejected', error, key }, detail: error };
    }
    try {
      const started = await d.tasks.start(parsed.data);
      if (!started.existing) {
        return { outcome: 'started', status: 202, body: { outcome: 'started', ...started }, detail: `started ${started.workflowId} run ${started.runId}` };
      }
      const task = await d.records.taskByKey(key);
      if (task?.cancelRequestedAt) {
        return ignored(key, `task ${key} is being stopped; move it to "${cfg.startState}" again once it is cancelled`, { workflowId: started.workflowId, runId: started.runId });
      }
      return ignored(key, `task ${key} is already running`, { workflowId: started.workflowId, runId: started.runId });
    } catch (err) {
      if (err instanceof HttpError && err.status < 500) return ignored(key, err.message);
      throw err;
    }
  }

  async function stopTask(key: string, actor: StateChange['activity']['actor']): Promise<Acted> {
    const requestedBy = `plane:${cut(actor.display_name || actor.email || actor.id, 150)}`;
    const req = { reason: 'Plane STOP', requestedBy };
    try {
      const stopped = await d.tasks.stop(key, req);
      return { outcome: 'stop-signalled', status: 202, body: { ...stopped }, detail: `stop signalled to ${stopped.workflowId} by ${requestedBy}` };
    } catch (err) {
      if (err instanceof HttpError && (err.status === 404 || err.status === 409)) return ignored(key, err.message);
      throw err;
    }
  }

  // Body-parser failures (413 too large, 400 aborted, 415 encoding) are deliveries too.
  router.use(async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string; length?: number; received?: number };
    const status = e?.status ?? e?.statusCode ?? 500;
    if (res.headersSent) return next(err);
    const bytes = e?.length ?? e?.received ?? (Number(req.get('content-length')) || 0);
    const row = baseRow(req, bytes);
    if (e?.type === 'entity.too.large') {
      return reject(res, row, 413, `body of ${bytes} bytes is over the limit of ${cfg.webhookMaxBytes} (ORCH_WEBHOOK_MAX_BYTES)`);
    }
    if (status >= 400 && status < 500) return reject(res, row, status, e?.message ?? 'bad request');
    log.error({ err }, 'plane webhook: unexpected error');
    return finish(res, { ...row, outcome: `error: ${cut(e?.message ?? 'internal error', 200)}`, httpStatus: 500 }, { outcome: 'error', error: e?.message ?? 'internal error' });
  });

  return router;
}

function zodMessage(err: z.ZodError): [string, Record<string, unknown>] {
  const first = err.issues[0];
  const field = first?.path.join('.') || '(body)';
  return [`${field}: ${first?.message ?? 'invalid'}`, { field }];
}

/** The plain-text description: Plane's own stripped text, else the HTML with its tags removed. */
function descriptionOf(item: StateChange['data']): string | undefined {
  const stripped = item.description_stripped?.trim();
  if (stripped) return stripped.slice(0, 100_000);
  const html = item.description_html?.trim();
  if (!html) return undefined;
  const text = html
    .replace(/<(br|\/p|\/div|\/li|\/h[1-6])\s*\/?>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return text ? text.slice(0, 100_000) : undefined;
}
