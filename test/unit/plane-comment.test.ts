// What the Plane bridge makes of `issue_comment` deliveries (api/plane/comment.ts through decide.ts):
// a person's `/approve` or `/reject <why>` on a work item becomes a decision; anything else is
// ignored with a reason, and a body that is not a comment is rejected.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../api/plane/comment.js';
import { PLANE_WEBHOOK_DISABLED, type PlaneBridgeConfig } from '../../api/plane/config.js';
import { decide } from '../../api/plane/decide.js';
import { botActor, DEMO_PROJECT_ID, humanActor, planeCommentPayload, pythonJsonDumps, type PlaneCommentPayloadOptions } from '../support/plane.js';

const cfg: PlaneBridgeConfig = {
  ...PLANE_WEBHOOK_DISABLED,
  webhookSecret: 's',
  botUserId: botActor.id,
  projects: { [DEMO_PROJECT_ID]: { identifier: 'DEMO', repo: 'demo' } },
  projectsSource: 'inline',
};
const issueId = randomUUID();
const decideOn = (o: Partial<PlaneCommentPayloadOptions> & { commentHtml: string }, c: PlaneBridgeConfig = cfg) =>
  decide(Buffer.from(pythonJsonDumps(planeCommentPayload({ issueId, ...o }))), c);

describe('parseCommand', () => {
  it('reads the command at the start of the comment and what follows it', () => {
    expect(parseCommand('/approve')).toEqual({ command: 'approve', rest: '' });
    expect(parseCommand('  /APPROVE   looks good\n')).toEqual({ command: 'approve', rest: 'looks good' });
    expect(parseCommand('/reject: the API and the UI belong in two changes')).toEqual({ command: 'reject', rest: 'the API and the UI belong in two changes' });
    expect(parseCommand('/reject\n\nsplit it\nin two')).toEqual({ command: 'reject', rest: 'split it\nin two' });
  });

  it('reads the stage named right after the command as stage=<name>', () => {
    expect(parseCommand('/approve stage=design-approval')).toEqual({ command: 'approve', stage: 'design-approval', rest: '' });
    expect(parseCommand('/Approve STAGE=merge-approval ship it')).toEqual({ command: 'approve', stage: 'merge-approval', rest: 'ship it' });
    expect(parseCommand('/reject: stage=design-approval - split it\nin two')).toEqual({ command: 'reject', stage: 'design-approval', rest: 'split it\nin two' });
    expect(parseCommand('/approve stage= looks good')).toEqual({ command: 'approve', stage: '', rest: 'looks good' });
    // Anywhere else it is the comment's text, not a stage.
    expect(parseCommand('/approve the stage=design part reads well')).toEqual({ command: 'approve', rest: 'the stage=design part reads well' });
    expect(parseCommand('/approve stages=x')).toEqual({ command: 'approve', rest: 'stages=x' });
  });

  it('takes nothing else for a command', () => {
    for (const text of ['', 'approve', 'please /approve', '/approved', '/approve-all', '/rejection noted', '/ approve', 'LGTM']) {
      expect(parseCommand(text), text).toBeNull();
    }
  });
});

describe('decide: issue_comment deliveries', () => {
  it('a person\'s /approve decides, as that person, through Plane', () => {
    const d = decideOn({ commentHtml: '<p>/approve looks good</p>', commentId: 'c-1' });
    expect(d).toMatchObject({
      kind: 'decide',
      command: 'approve',
      workItemId: issueId,
      contentKey: 'plane:comment:c-1',
      request: { by: humanActor.display_name, comment: 'looks good', via: 'plane' },
      facts: { event: 'issue_comment', action: 'created', workItemId: issueId },
    });
  });

  it('a /reject carries its reason, read from the comment\'s HTML', () => {
    const d = decideOn({ commentHtml: '<p>/reject</p><p>Split &amp; resubmit: the API &lt;first&gt;</p>' });
    expect(d).toMatchObject({ kind: 'decide', command: 'reject', request: { comment: 'Split & resubmit: the API <first>' } });
    // Nothing after the command: the update's validator refuses a rejection without a comment.
    expect(decideOn({ commentHtml: '<p>/reject</p>' })).toMatchObject({ kind: 'decide', command: 'reject', request: { by: 'alice', via: 'plane' } });
  });

  it('a comment naming its stage sends it with the decision (the update refuses another stage); stage= without a name is ignored', () => {
    expect(decideOn({ commentHtml: '<p>/approve stage=design-approval looks good</p>' })).toMatchObject({
      kind: 'decide',
      command: 'approve',
      request: { by: 'alice', stage: 'design-approval', comment: 'looks good', via: 'plane' },
    });
    expect(decideOn({ commentHtml: '<p>/reject stage=merge-approval</p><p>not yet</p>' })).toMatchObject({
      kind: 'decide',
      command: 'reject',
      request: { stage: 'merge-approval', comment: 'not yet' },
    });
    expect(decideOn({ commentHtml: '<p>/approve</p>' })).toMatchObject({ kind: 'decide', request: expect.not.objectContaining({ stage: expect.anything() }) });
    expect(decideOn({ commentHtml: '<p>/approve stage= ok</p>' })).toMatchObject({ kind: 'ignore', why: '"stage=" names no stage: write /approve stage=<approval stage> …' });
  });

  it('a user without a display name decides under their id', () => {
    const d = decideOn({ commentHtml: '<p>/approve</p>', actor: { id: 'b0000000-0000-4000-8000-000000000123' } });
    expect(d).toMatchObject({ kind: 'decide', request: { by: 'b0000000-0000-4000-8000-000000000123' } });
  });

  it('ignores, with a reason, orch\'s own comments, chatter, edits, deletions and unmapped projects', () => {
    const cases: [Partial<PlaneCommentPayloadOptions> & { commentHtml: string }, RegExp][] = [
      [{ commentHtml: '<p>/approve</p>', actor: botActor }, /^orch's own comment$/],
      [{ commentHtml: '<p>/approve</p>', dataOverrides: { actor: botActor.id } }, /^orch's own comment$/],
      [{ commentHtml: '<p>Looks fine to me, /approve later</p>' }, /^the comment is not an \/approve or \/reject command$/],
      [{ commentHtml: '<p></p>' }, /not an \/approve/],
      [{ commentHtml: '<p>/approve</p>', action: 'updated' }, /^event "issue_comment" with action "updated": only a new comment can approve or reject$/],
      [{ commentHtml: '<p>/approve</p>', action: 'deleted' }, /action "deleted"/],
      [{ commentHtml: '<p>/approve</p>', projectId: randomUUID() }, /is not mapped in ORCH_PLANE_PROJECTS/],
    ];
    for (const [o, why] of cases) {
      const d = decideOn(o);
      expect(d.kind, JSON.stringify(o)).toBe('ignore');
      expect(d.kind === 'ignore' && d.why, JSON.stringify(o)).toMatch(why);
    }
  });

  it('without PLANE_BOT_USER_ID, orch\'s own notices still decide nothing: they are not commands', () => {
    const d = decideOn({ commentHtml: '<p><strong>orch</strong> · DEMO-1: waiting for approval.</p><p>Comment <code>/approve</code> to go on</p>', actor: botActor }, { ...cfg, botUserId: undefined });
    expect(d).toMatchObject({ kind: 'ignore', why: 'the comment is not an /approve or /reject command' });
  });

  it('rejects a new comment that is not shaped like one', () => {
    expect(decideOn({ commentHtml: '<p>/approve</p>', dataOverrides: { issue: null } })).toMatchObject({ kind: 'reject', extra: { field: 'data.issue' } });
    expect(decideOn({ commentHtml: '<p>/approve</p>', dataOverrides: { comment_html: 42 } })).toMatchObject({ kind: 'reject', extra: { field: 'data.comment_html' } });
  });
});
