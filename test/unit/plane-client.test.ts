// The Plane API v1 client and the notifyPlane activity against the local stand-in.
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProgressComment, PlaneApiError, PlaneClient, rateLimitWaitMs } from '../../activities/adapters/plane-client.js';
import { createPlaneActivities } from '../../activities/plane.js';
import type { ProgressUpdate } from '../../workflows/contracts/index.js';
import { DEMO_PROJECT_ID, demoStates, startPlaneStandin, type PlaneStandin } from '../support/plane.js';

const API_KEY = 'plane_api_0123456789abcdef';
const SLUG = 'acme';
const ITEM = 'd0000000-0000-4000-8000-000000000042';

let plane: PlaneStandin;
let sleeps: number[];
const client = (o: Partial<ConstructorParameters<typeof PlaneClient>[0]> = {}) =>
  new PlaneClient({
    baseUrl: `${plane.baseUrl}/`,
    apiKey: API_KEY,
    workspaceSlug: SLUG,
    // Record the waits instead of sleeping them: the stand-in's 429s are counted, not timed.
    sleep: async (ms) => void sleeps.push(ms),
    ...o,
  });

beforeEach(async () => {
  plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG });
  sleeps = [];
});
afterEach(async () => plane.close());

describe('PlaneClient', () => {
  it('posts a comment to the work item\'s comments endpoint with the API key', async () => {
    const comment = await client().addComment(DEMO_PROJECT_ID, ITEM, '<p>hello <b>board</b></p>');
    expect(comment.id).toEqual(expect.any(String));
    expect(plane.requests).toHaveLength(1);
    expect(plane.requests[0]).toMatchObject({
      method: 'POST',
      url: `/api/v1/workspaces/${SLUG}/projects/${DEMO_PROJECT_ID}/work-items/${ITEM}/comments/`,
      apiKey: API_KEY,
      contentType: 'application/json',
      body: { comment_html: '<p>hello <b>board</b></p>' },
      status: 201,
    });
    expect(plane.comments.get(ITEM)?.map((c) => c.comment_html)).toEqual(['<p>hello <b>board</b></p>']);
  });

  it('changes a work item\'s state with PATCH {state}', async () => {
    const item = await client().setState(DEMO_PROJECT_ID, ITEM, demoStates.done.id);
    expect(item).toMatchObject({ id: ITEM, state: demoStates.done.id });
    expect(plane.requests[0]).toMatchObject({
      method: 'PATCH',
      url: `/api/v1/workspaces/${SLUG}/projects/${DEMO_PROJECT_ID}/work-items/${ITEM}/`,
      body: { state: demoStates.done.id },
      status: 200,
    });
    const bad = await client().setState(DEMO_PROJECT_ID, ITEM, 'no-such-state').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PlaneApiError);
    expect(bad).toMatchObject({ status: 400, message: expect.stringMatching(/State is not valid/) });
  });

  it('lists every state, following the cursor across pages', async () => {
    await plane.close();
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG, maxPerPage: 2 });
    const states = await client().listStates(DEMO_PROJECT_ID);
    expect(states.map((s) => [s.name, s.group])).toEqual(Object.values(demoStates).map((s) => [s.name, s.group]));
    expect(plane.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('cursor'))).toEqual([null, '2:1:0', '2:2:0']);
  });

  it('waits for Retry-After (the only header of a Plane 429), then retries', async () => {
    plane.answer429(1, { inSeconds: 2 });
    await client().addComment(DEMO_PROJECT_ID, ITEM, '<p>after the limit</p>');
    expect(plane.requests.map((r) => r.status)).toEqual([429, 201]);
    // A little past the announced wait, so the window has really moved on.
    expect(sleeps).toEqual([2250]);
    expect(plane.comments.get(ITEM)).toHaveLength(1);
  });

  it("the stand-in's 429 carries only Retry-After; its window slides", async () => {
    await plane.close();
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG, rateLimitPerMinute: 2 });
    const raw = () => fetch(`${plane.baseUrl}/api/v1/workspaces/${SLUG}/projects/${DEMO_PROJECT_ID}/states/`, { headers: { 'x-api-key': API_KEY } });
    const allowed = await raw();
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(Number(allowed.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect((await raw()).status).toBe(200);
    const limited = await raw();
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    // Sliding: the oldest request leaves the window about 60 s after it was made.
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect([...limited.headers.keys()].filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
  });
  it('gives up after a bounded number of 429s, and when the reset is too far away', async () => {
    plane.answer429(10, { inSeconds: 1 });
    const err = await client({ maxRateLimitRetries: 2 }).addComment(DEMO_PROJECT_ID, ITEM, '<p>x</p>').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlaneApiError);
    expect((err as PlaneApiError).status).toBe(429);
    expect((err as Error).message).toMatch(/rate limited; gave up after 3 attempt/);
    expect(plane.requests).toHaveLength(3);

    plane.answer429(1, { inSeconds: 600 });
    const far = await client().addComment(DEMO_PROJECT_ID, ITEM, '<p>x</p>').catch((e: unknown) => e);
    expect((far as PlaneApiError).status).toBe(429);
    expect(plane.comments.get(ITEM)).toBeUndefined();
  });

  it('slows down by itself once X-RateLimit-Remaining reaches 0', async () => {
    await plane.close();
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG, rateLimitPerMinute: 1 });
    const c = client({ maxRateLimitRetries: 0 });
    await c.addComment(DEMO_PROJECT_ID, ITEM, '<p>1</p>');
    expect(sleeps).toEqual([]);
    // The window is used up: the next call waits for its reset before sending.
    await c.addComment(DEMO_PROJECT_ID, ITEM, '<p>2</p>').catch(() => undefined);
    expect(sleeps[0]).toBeGreaterThan(0);
    expect(sleeps[0]).toBeLessThanOrEqual(61_000);
  });

  it('surfaces a rejected or missing API key (Plane answers 403) as an error naming the key', async () => {
    const err = await client({ apiKey: 'wrong' }).addComment(DEMO_PROJECT_ID, ITEM, '<p>x</p>').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlaneApiError);
    expect(err).toMatchObject({ status: 403, isAuthError: true });
    expect((err as Error).message).toMatch(/answered 403 \(Plane rejected the API key \(PLANE_API_KEY\).*Given API token is not valid/);
    expect(plane.requests[0]!.apiKey).toBe('wrong');
    const none = await fetch(`${plane.baseUrl}/api/v1/workspaces/${SLUG}/projects/${DEMO_PROJECT_ID}/states/`);
    expect([none.status, await none.json()]).toEqual([403, { detail: 'Authentication credentials were not provided.' }]);
  });

  it('lists every work item of a project, following the cursor', async () => {
    await plane.close();
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG, maxPerPage: 2 });
    for (let i = 1; i <= 5; i++) plane.putWorkItem({ id: `d0000000-0000-4000-8000-00000000000${i}`, sequenceId: i, state: demoStates.toAnalyse });
    const items = await client().listWorkItems(DEMO_PROJECT_ID);
    expect(items.map((w) => w.sequence_id).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(items.every((w) => w.state === demoStates.toAnalyse.id)).toBe(true);
    expect(plane.requests.map((r) => new URL(r.url, 'http://x').pathname)).toEqual(Array(3).fill(`/api/v1/workspaces/${SLUG}/projects/${DEMO_PROJECT_ID}/work-items/`));
  });

  it('falls back to the issues/ path on an older Plane, and remembers it per project', async () => {
    await plane.close();
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: SLUG, legacyOnly: true });
    const c = client();
    await c.addComment(DEMO_PROJECT_ID, ITEM, '<p>one</p>');
    await c.addComment(DEMO_PROJECT_ID, ITEM, '<p>two</p>');
    expect(c.segmentOf(DEMO_PROJECT_ID)).toBe('issues');
    expect(plane.requests.map((r) => [r.url.replace(/^.*\/projects\/[^/]+\//, ''), r.status])).toEqual([
      [`work-items/${ITEM}/comments/`, 404],
      [`issues/${ITEM}/comments/`, 201],
      [`issues/${ITEM}/comments/`, 201],
    ]);
    expect(plane.comments.get(ITEM)?.map((x) => x.comment_html)).toEqual(['<p>one</p>', '<p>two</p>']);
    // A project that does not exist is a 404 on both paths, reported as such and not remembered.
    const gone = await c.addComment('not-a-project', ITEM, '<p>x</p>').catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 404 });
    expect(c.segmentOf('not-a-project')).toBeUndefined();
  });

  it('stays on work-items/ where Plane serves it', async () => {
    const c = client();
    await c.addComment(DEMO_PROJECT_ID, ITEM, '<p>new</p>');
    expect(c.segmentOf(DEMO_PROJECT_ID)).toBe('work-items');
    expect(plane.requests.map((r) => r.status)).toEqual([201]);
  });

  it('parses the rate-limit headers', () => {
    const now = 1_700_000_000_000;
    const h = (o: Record<string, string>) => new Headers(o);
    expect(rateLimitWaitMs(h({ 'x-ratelimit-reset': String(now / 1000 + 5) }), now)).toBe(5000);
    expect(rateLimitWaitMs(h({ 'x-ratelimit-reset': '7' }), now)).toBe(7000);
    expect(rateLimitWaitMs(h({ 'x-ratelimit-reset': String(now / 1000 - 5) }), now)).toBe(0);
    expect(rateLimitWaitMs(h({ 'retry-after': '2', 'x-ratelimit-reset': '9' }), now)).toBe(2000);
    expect(rateLimitWaitMs(h({ 'retry-after': new Date(now + 4000).toUTCString() }), now)).toBe(4000);
    expect(rateLimitWaitMs(h({}), now)).toBeNull();
  });
});

describe('notifyPlane', () => {
  const config = () => ({ baseUrl: plane.baseUrl, apiKey: API_KEY, workspaceSlug: SLUG });
  const update: ProgressUpdate = { kind: 'started', key: 'DEMO-42', repo: 'demo' };

  it('skips when Plane is not configured or the task has no Plane ids', async () => {
    const off = createPlaneActivities({ config: { baseUrl: undefined, apiKey: undefined, workspaceSlug: undefined } });
    expect(await off.notifyPlane({ planeProjectId: DEMO_PROJECT_ID, planeIssueId: ITEM, update })).toEqual({ sent: false, reason: 'plane not configured' });
    const on = createPlaneActivities({ config: config() });
    expect(await on.notifyPlane({ update })).toEqual({ sent: false, reason: 'task has no plane ids' });
    expect(plane.requests).toHaveLength(0);
  });

  it('posts the comment', async () => {
    const stage: ProgressUpdate = { kind: 'stage', key: 'DEMO-42', stage: 'design', attempt: 2, host: 'box-a' };
    const html = formatProgressComment(stage);
    expect(await createPlaneActivities({ config: config() }).notifyPlane({ planeProjectId: DEMO_PROJECT_ID, planeIssueId: ITEM, update: stage })).toEqual({ sent: true });
    expect(plane.comments.get(ITEM)?.[0]?.comment_html).toBe(html);
  });

  it('fails without retry on a rejected key, and reports a missing work item', async () => {
    const bad = createPlaneActivities({ config: { ...config(), apiKey: 'wrong' } });
    const err = await bad.notifyPlane({ planeProjectId: DEMO_PROJECT_ID, planeIssueId: ITEM, update }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(/403.*PLANE_API_KEY/);
    const gone = await createPlaneActivities({ config: config() }).notifyPlane({ planeProjectId: 'not-a-project', planeIssueId: ITEM, update });
    expect(gone).toMatchObject({ sent: false, reason: expect.stringMatching(/not found.*404/) });
  });
});

describe('formatProgressComment', () => {
  it('escapes what it quotes', () => {
    const html = formatProgressComment({ kind: 'failed', key: 'DEMO-1', reason: 'gate <command> failed & "exit 1"' });
    expect(html).toContain('gate &lt;command&gt; failed &amp; &quot;exit 1&quot;');
    expect(html).not.toContain('<command>');
  });

  it('writes stage transitions and terminal outcomes', () => {
    expect(formatProgressComment({ kind: 'started', key: 'DEMO-1', repo: 'demo' })).toBe('<p><strong>orch</strong> · <code>DEMO-1</code>: pipeline started for repo <code>demo</code>.</p>');
    expect(formatProgressComment({ kind: 'stage', key: 'DEMO-1', stage: 'review' })).toMatch(/stage <code>review<\/code> started\.<\/p>$/);
    expect(formatProgressComment({ kind: 'stage-retry', key: 'DEMO-1', stage: 'design', attempt: 1, reason: 'gate failed' })).toMatch(/attempt 1 did not pass: gate failed\. Retrying/);
    expect(formatProgressComment({ kind: 'done', key: 'DEMO-1', sha: '0123456789abcdef0123' })).toMatch(/done — merged as <code>0123456789ab<\/code> and deployed/);
  });

  it("says what a stage and the task spent; an unknown cost is said, never $0", () => {
    const usage = { costUsd: 0.4213, inputTokens: 12_345, outputTokens: 2100, cacheReadTokens: 480_000, cacheWriteTokens: 0, turns: 7 };
    expect(formatProgressComment({ kind: 'stage-passed', key: 'DEMO-1', stage: 'development', attempt: 2, usage })).toBe(
      '<p><strong>orch</strong> · <code>DEMO-1</code>: stage <code>development</code> passed (attempt 2) — cost $0.42 · 12.3k in / 2.1k out tokens (480k cache read) · 7 turns.</p>',
    );
    expect(formatProgressComment({ kind: 'stage-passed', key: 'DEMO-1', stage: 'review', attempt: 1 })).toBe(
      '<p><strong>orch</strong> · <code>DEMO-1</code>: stage <code>review</code> passed.</p>',
    );
    const unknown = { ...usage, costUsd: null, cacheReadTokens: 0 };
    expect(formatProgressComment({ kind: 'stage-retry', key: 'DEMO-1', stage: 'design', attempt: 1, reason: 'gate failed', usage: unknown })).toMatch(
      /attempt 1 did not pass \(cost unknown · 12\.3k in \/ 2\.1k out tokens · 7 turns\): gate failed\. Retrying\./,
    );
    const done = formatProgressComment({ kind: 'done', key: 'DEMO-1', sha: 'abc', usage });
    expect(done).toMatch(/<p>Agents spent: cost \$0\.42 · 12\.3k in \/ 2\.1k out tokens \(480k cache read\) · 7 turns\.<\/p>$/);
    expect(formatProgressComment({ kind: 'failed', key: 'DEMO-1', reason: 'budget exceeded', usage: unknown })).toContain('<p>Agents spent: cost unknown · ');
    expect(formatProgressComment({ kind: 'cancelled', key: 'DEMO-1', compensation: [], usage })).toMatch(/Nothing to clean up\.<\/p><p>Agents spent: cost \$0\.42/);
    for (const html of [formatProgressComment({ kind: 'done', key: 'DEMO-1' }), formatProgressComment({ kind: 'failed', key: 'DEMO-1', reason: 'x' })]) {
      expect(html).not.toContain('spent');
    }
  });

  it('lists the clean-up of a cancelled task, flagging what failed', () => {
    const html = formatProgressComment({
      kind: 'cancelled',
      key: 'DEMO-1',
      reason: 'Plane STOP',
      requestedBy: 'plane:alice',
      compensation: [
        { step: 'kill-agent', ok: true, detail: 'pid 4242 stopped' },
        { step: 'cancel-jobs', ok: true, detail: '1 job' },
        { step: 'remove-worktree', ok: true, detail: '' },
        { step: 'delete-branch', ok: false, detail: 'remote refused' },
      ],
    });
    expect(html).toContain('cancelled (Plane STOP, requested by plane:alice)');
    expect(html).toContain('1 step(s) need attention');
    expect(html.match(/<li>/g)).toHaveLength(4);
    expect(html).toContain('<li>✔ stop the agent: pid 4242 stopped</li>');
    expect(html).toContain('<li>✘ delete the feature branch: remote refused</li>');
    expect(formatProgressComment({ kind: 'cancelled', key: 'DEMO-1', compensation: [] })).toContain('Nothing to clean up');
  });
});
