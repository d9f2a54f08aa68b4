// What a trusted (signature-checked) delivery asks of orch — pure: body and config in, decision out.
//
// What acts (everything else is answered 2xx `ignored: <why>`):
//   event `issue`, action `updated`/`created`, `activity.field` `state` or `state_id` (or, for
//   `created`, null: Plane's delivery of a new work item names no field), and the work item's
//   state name (`data.state.name`, trimmed, case-insensitive) equal to
//     ORCH_PLANE_START_STATE (`To Analyse`) → start task `<IDENTIFIER>-<sequence_id>`;
//     ORCH_PLANE_STOP_STATE  (`STOP`)       → stop it (when ORCH_STOP_STATUS_ENABLED and the repo is
//                                             allowed by ORCH_STOP_STATUS_REPOS).
//   Only these exact names act: a board without them starts and stops nothing (fail closed).
//   The work item's project must be mapped in ORCH_PLANE_PROJECTS; orch's own writes (actor =
//   PLANE_BOT_USER_ID) are echoes and ignored.
//   event `issue_comment`, action `created`, a person's comment starting `/approve` or `/reject`
//     → decide the work item's task's approval stage (comment.ts).
import { z } from 'zod';
import type { StopRequest } from '../../workflows/contracts/index.js';
import { firstIssue, taskKeySchema } from '../task-input.js';
import { COMMENT_EVENT, decideComment, type CommentDecision } from './comment.js';
import type { PlaneBridgeConfig, PlaneProjectRef } from './config.js';
import { idLike } from './ids.js';
import { cut, HEADER_MAX, storedPayload } from './storable.js';
import { htmlToText } from './text.js';

const envelopeSchema = z.object({
  event: z.string().min(1),
  action: z.string().min(1),
  webhook_id: z.string().nullish(),
  workspace_id: z.string().nullish(),
  data: z.unknown(),
  activity: z.unknown(),
});


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
    field: z.string().nullable(),
    actor: z.object({
      id: idLike,
      display_name: z.string().nullish(),
      email: z.string().nullish(),
    }),
  }),
});
type WorkItem = z.infer<typeof stateChangeSchema>['data'];

/** Dedupe identity (api/plane/dedupe.ts): one move of one work item, whichever delivery carries it. */
export const contentKeyOf = (workItemId: string, stateId: string): string => `plane:${workItemId}:state:${stateId}`;

const STATE_ACTIONS = new Set(['updated', 'created', 'update', 'create']);
const CREATED_ACTIONS = new Set(['created', 'create']);
const STATE_FIELDS = new Set(['state', 'state_id']);

/** What the delivery's row records, as far as the body could be read. */
export interface DeliveryFacts {
  payload: unknown;
  event?: string | null;
  action?: string | null;
  workItemId?: string | null;
}

/** Something to log beside the answer (a STOP the config does not allow, an odd state group). */
export interface Warning {
  message: string;
  fields: Record<string, unknown>;
}

export type Decision =
  | { kind: 'reject'; facts: DeliveryFacts; error: string; extra?: Record<string, unknown> }
  | { kind: 'ignore'; facts: DeliveryFacts; why: string; key?: string; warning?: Warning }
  | { kind: 'start'; facts: DeliveryFacts; key: string; contentKey: string; request: StartRequestCandidate }
  | { kind: 'stop'; facts: DeliveryFacts; key: string; contentKey: string; request: Required<StopRequest>; warning?: Warning }
  | (Extract<CommentDecision, { kind: 'decide' }> & { facts: DeliveryFacts });

/** The task start the work item asks for; the task service's schema still has the last word. */
export interface StartRequestCandidate {
  key: string;
  repo: string;
  title: string;
  description?: string;
  planeIssueId: string;
  planeProjectId: string;
}

const zodRejection = (facts: DeliveryFacts, err: z.ZodError): Decision => {
  const { message, field } = firstIssue(err);
  return { kind: 'reject', facts, error: message, extra: { field } };
};

export function decide(body: Buffer, cfg: PlaneBridgeConfig): Decision {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { kind: 'reject', facts: { payload: { unparsed: body.toString('utf8', 0, Math.min(body.length, 2000)) } }, error: `malformed JSON: ${(err as Error).message}` };
  }
  const facts: DeliveryFacts = { payload: storedPayload(json, body.length) };
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) return zodRejection(facts, envelope.error);
  const { event, action } = envelope.data;
  facts.event = cut(event, HEADER_MAX);
  facts.action = cut(action, HEADER_MAX);
  const ignore = (why: string, more: { key?: string; warning?: Warning } = {}): Decision => ({ kind: 'ignore', facts, why, ...more });

  if (event === COMMENT_EVENT) {
    const c = decideComment(json, action, cfg);
    if (c.kind !== 'reject' && c.workItemId) facts.workItemId = c.workItemId;
    if (c.kind === 'reject') return { kind: 'reject', facts, error: c.error, extra: { field: c.field } };
    return c.kind === 'ignore' ? ignore(c.why) : { ...c, facts };
  }
  if (event !== 'issue') return ignore(`event "${cut(event, 50)}" is not a work item event`);
  if (!STATE_ACTIONS.has(action)) return ignore(`action "${cut(action, 50)}" is not a state change`);
  const field = (envelope.data.activity as { field?: unknown } | null | undefined)?.field;
  // A work item created in a state is in it as much as one moved there.
  const created = CREATED_ACTIONS.has(action) && field === null;
  if (!created && (typeof field !== 'string' || !STATE_FIELDS.has(field))) {
    return ignore(`field ${typeof field === 'string' ? `"${cut(field, 50)}"` : String(field ?? null)} is not a state change`);
  }
  const parsed = stateChangeSchema.safeParse(json);
  if (!parsed.success) return zodRejection(facts, parsed.error);
  const { data: item, activity } = parsed.data;
  facts.workItemId = cut(item.id, 100);

  // Is it ours to act on?
  const actor = activity.actor;
  if (cfg.botUserId && actor.id === cfg.botUserId) return ignore('echo of orch\'s own write');
  const projectId = (item.project ?? item.project_id)!;
  const project = cfg.projects[projectId.toLowerCase()];
  if (!project) return ignore(`project ${cut(projectId, 100)} is not mapped in ORCH_PLANE_PROJECTS (${cfg.projectsSource})`);
  const key = `${project.identifier}-${item.sequence_id}`;
  if (!taskKeySchema.safeParse(key).success) return { kind: 'reject', facts, error: `data.sequence_id: makes an invalid task key "${key}"`, extra: { field: 'data.sequence_id' } };
  const stateName = item.state.name.trim();
  const wanted = stateName.toLowerCase();
  const contentKey = contentKeyOf(item.id, item.state.id);

  if (wanted === cfg.startState.trim().toLowerCase()) {
    return { kind: 'start', facts, key, contentKey, request: startCandidateOf(key, project, projectId, item) };
  }
  if (wanted === cfg.stopState.trim().toLowerCase()) {
    const refusal = stopRefusal(cfg, project);
    if (refusal) return ignore(refusal.why, { key, warning: { message: refusal.warning, fields: { key, repo: project.repo } } });
    const warning =
      item.state.group && item.state.group !== 'cancelled'
        ? { message: `plane webhook: the "${stateName}" state is in group ${item.state.group}, not cancelled`, fields: { key, group: item.state.group } }
        : undefined;
    const requestedBy = `plane:${cut(actor.display_name || actor.email || actor.id, 150)}`;
    return { kind: 'stop', facts, key, contentKey, request: { reason: 'Plane STOP', requestedBy }, warning };
  }
  return ignore(`state "${cut(stateName, 100)}" is neither "${cfg.startState}" nor "${cfg.stopState}"`, { key });
}

/** The task a work item in the start state asks for (the webhook's and the reconciler's). */
export function startCandidateOf(
  key: string,
  project: PlaneProjectRef,
  projectId: string,
  item: Pick<WorkItem, 'id' | 'name' | 'description_stripped' | 'description_html'>,
): StartRequestCandidate {
  const description = descriptionOf(item);
  return {
    key,
    repo: project.repo,
    title: (item.name ?? '').replace(/\s+/g, ' ').trim().slice(0, 500) || `Plane work item ${key}`,
    ...(description ? { description } : {}),
    planeIssueId: item.id,
    planeProjectId: projectId,
  };
}

/** Why the STOP state may not stop this project's tasks (ORCH_STOP_STATUS_*), or null when it may. */
export function stopRefusal(cfg: Pick<PlaneBridgeConfig, 'stopStatusEnabled' | 'stopStatusRepos'>, project: PlaneProjectRef): { why: string; warning: string } | null {
  if (!cfg.stopStatusEnabled) return { why: 'stop status disabled', warning: 'plane webhook: STOP state ignored (ORCH_STOP_STATUS_ENABLED is off)' };
  if (cfg.stopStatusRepos.length > 0 && !cfg.stopStatusRepos.includes(project.repo)) {
    return { why: `stop status disabled for repo ${project.repo} (ORCH_STOP_STATUS_REPOS)`, warning: 'plane webhook: STOP state ignored (repo not in ORCH_STOP_STATUS_REPOS)' };
  }
  return null;
}

/** The plain-text description: Plane's own stripped text, else the HTML with its tags removed. */
function descriptionOf(item: Pick<WorkItem, 'description_stripped' | 'description_html'>): string | undefined {
  const stripped = item.description_stripped?.trim();
  if (stripped) return stripped.slice(0, 100_000);
  const html = item.description_html?.trim();
  if (!html) return undefined;
  const text = htmlToText(html);
  return text ? text.slice(0, 100_000) : undefined;
}
