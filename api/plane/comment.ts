// A comment on a work item decides its task's approval stage: `/approve [comment]` or
// `/reject <why>` at the start of a person's new comment, naming the stage if it likes with
// `stage=<name>` right after the command (as `--stage` and the API's `stage` do: the update refuses
// a task waiting in another stage). Pure, like decide.ts: the body in, what
// to do out; act.ts finds the task and sends the decision through the same update as every other
// entry point (api/approvals.ts), whose validator refuses a task that is not waiting.
//
// What Plane sends for a new comment (apps/api/plane/app/views/issue/comment.py → model_activity
// → webhook_activity in bgtasks/webhook_task.py): event `issue_comment`, action `created`,
// `activity.field` null, `activity.actor` the commenting user (UserLiteSerializer: `id`,
// `display_name`, `first_name`, `last_name`, `email`, …) and `data` the comment as the v1 API's
// IssueCommentSerializer renders it: `id`, `comment_html`, `issue` (the work item's id), `project`,
// `workspace`, `actor`, `created_by`, … (no `comment_stripped`: that serializer leaves it out). An
// edit arrives as `updated`, one delivery per changed field; a deletion as `deleted` with `data: {id}`.
import { z } from 'zod';
import type { ApprovalDecision } from '../../workflows/contracts/index.js';
import { firstIssue } from '../task-input.js';
import type { PlaneBridgeConfig } from './config.js';
import { idLike } from './ids.js';
import { cut } from './storable.js';
import { htmlToText } from './text.js';

export const COMMENT_EVENT = 'issue_comment';

const NEW_COMMENT_ACTIONS = new Set(['created', 'create']);

const actorSchema = z.object({
  id: idLike,
  display_name: z.string().nullish(),
  first_name: z.string().nullish(),
  last_name: z.string().nullish(),
  email: z.string().nullish(),
});

const commentSchema = z.object({
  data: z.object({
    id: z.string().trim().min(1).max(100),
    issue: idLike,
    project: idLike.nullish(),
    actor: idLike.nullish(),
    created_by: idLike.nullish(),
    comment_html: z.string().max(100_000).nullish(),
    comment_stripped: z.string().max(100_000).nullish(),
  }),
  activity: z.object({ actor: actorSchema }).nullish(),
});

export type CommentCommand = 'approve' | 'reject';

export type CommentDecision =
  | { kind: 'ignore'; why: string; workItemId?: string }
  | { kind: 'reject'; error: string; field: string }
  | {
      kind: 'decide';
      workItemId: string;
      /** Dedupe identity: one comment, whichever delivery (Plane retries with a new delivery id) carries it. */
      contentKey: string;
      command: CommentCommand;
      request: ApprovalDecision & { via: 'plane' };
    };

/**
 * The command at the start of a comment's text, the stage it names (`stage=<name>` right after the
 * command; '' when `stage=` names none) and what follows (the decision's comment).
 */
export function parseCommand(text: string): { command: CommentCommand; rest: string; stage?: string } | null {
  const m = /^\/(approve|reject)(?![\w-])[ \t]*[:,-]?\s*([\s\S]*)$/i.exec(text.trim());
  if (!m) return null;
  const command = m[1]!.toLowerCase() as CommentCommand;
  const named = /^stage=(\S*)(?:\s+|$)/i.exec(m[2]!);
  if (!named) return { command, rest: m[2]!.trim() };
  return { command, stage: named[1]!, rest: m[2]!.slice(named[0].length).replace(/^[:,-]\s*/, '').trim() };
}

/** A comment delivery (`event` is `issue_comment`, the signature checked) → what to do with it. */
export function decideComment(json: unknown, action: string, cfg: PlaneBridgeConfig): CommentDecision {
  if (!NEW_COMMENT_ACTIONS.has(action)) {
    return { kind: 'ignore', why: `event "${COMMENT_EVENT}" with action "${cut(action, 50)}": only a new comment can approve or reject` };
  }
  const parsed = commentSchema.safeParse(json);
  if (!parsed.success) {
    const { message, field } = firstIssue(parsed.error);
    return { kind: 'reject', error: message, field };
  }
  const { data, activity } = parsed.data;
  const workItemId = cut(data.issue, 100)!;
  const ignore = (why: string): CommentDecision => ({ kind: 'ignore', why, workItemId });

  const authorId = data.actor ?? data.created_by;
  const author: { id: string; display_name?: string | null } | null = activity?.actor ?? (authorId ? { id: authorId } : null);
  if (cfg.botUserId && [author?.id, data.actor, data.created_by].includes(cfg.botUserId)) return ignore("orch's own comment");
  if (!author) return ignore('the comment names no author (activity.actor, data.actor)');

  const text = data.comment_stripped?.trim() || htmlToText(data.comment_html ?? '');
  const command = parseCommand(text);
  if (!command) return ignore('the comment is not an /approve or /reject command');
  if (command.stage === '') return ignore(`"stage=" names no stage: write /${command.command} stage=<approval stage> …`);
  if (data.project && !cfg.projects[data.project.toLowerCase()]) {
    return ignore(`project ${cut(data.project, 100)} is not mapped in ORCH_PLANE_PROJECTS (${cfg.projectsSource})`);
  }
  const by = cut(author.display_name?.trim() || author.id, 200)!;
  return {
    kind: 'decide',
    workItemId,
    contentKey: `plane:comment:${data.id}`,
    command: command.command,
    request: { by, ...(command.stage && { stage: cut(command.stage, 100)! }), ...(command.rest && { comment: command.rest.slice(0, 10_000) }), via: 'plane' },
  };
}
