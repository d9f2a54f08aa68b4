// Plane `issue` and `issue_comment` delivery payloads as Plane's webhook task builds them, on a
// demo board: what `bin/plane-send.ts` sends, and what the tests and benchmarks move work items
// and comment with. The bytes and the signature are workflows/contracts/plane-wire.ts's.
import { randomUUID } from 'node:crypto';
import { pyFloat } from '../workflows/contracts/plane-wire.js';

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

export interface PlaneCommentPayloadOptions {
  /** The work item commented on (`data.issue`). */
  issueId: string;
  /** The comment as Plane stores it, e.g. `<p>/approve</p>`. */
  commentHtml: string;
  action?: 'created' | 'updated' | 'deleted' | string;
  commentId?: string;
  projectId?: string;
  workspaceId?: string;
  webhookId?: string;
  actor?: PlaneActor;
  /** Replaces or adds `data` fields (e.g. to send a wrong shape). */
  dataOverrides?: Record<string, unknown>;
}

/**
 * An `issue_comment` delivery for a new comment, as Plane's webhook task builds it (model_activity
 * → webhook_activity): `data` is the comment as the v1 API's IssueCommentSerializer renders it
 * (no `comment_stripped`, no `comment_json`), `activity.field` is null and `activity.actor` the
 * commenting user.
 */
export function planeCommentPayload(o: PlaneCommentPayloadOptions): Record<string, unknown> {
  const projectId = o.projectId ?? DEMO_PROJECT_ID;
  const workspaceId = o.workspaceId ?? DEMO_WORKSPACE_ID;
  const actor = o.actor ?? humanActor;
  const now = isoNow();
  const data: Record<string, unknown> = {
    id: o.commentId ?? randomUUID(),
    created_at: now,
    updated_at: now,
    deleted_at: null,
    comment_html: o.commentHtml,
    attachments: [],
    access: 'INTERNAL',
    external_source: null,
    external_id: null,
    edited_at: null,
    created_by: actor.id,
    updated_by: actor.id,
    project: projectId,
    workspace: workspaceId,
    issue: o.issueId,
    actor: actor.id,
    parent: null,
    description: randomUUID(),
    ...o.dataOverrides,
  };
  return {
    event: 'issue_comment',
    action: o.action ?? 'created',
    webhook_id: o.webhookId ?? 'c0000000-0000-4000-8000-0000000000e6',
    workspace_id: workspaceId,
    data,
    activity: {
      field: null,
      new_value: null,
      old_value: null,
      actor: { id: actor.id, first_name: actor.first_name ?? '', last_name: actor.last_name ?? '', email: actor.email ?? '', avatar: '', avatar_url: null, display_name: actor.display_name ?? '' },
      old_identifier: null,
      new_identifier: null,
    },
  };
}
