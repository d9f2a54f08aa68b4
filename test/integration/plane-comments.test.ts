// Progress comments on the Plane work item: one per stage transition and per outcome, in order,
// through rate limits, against a local server that follows Plane's API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, testAgentPipeline, type TestEnv } from '../support/env.js';
import { DEMO_PROJECT_ID, startPlaneStandin, type PlaneStandin } from '../support/plane.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

describe('Plane progress comments', () => {
  let plane: PlaneStandin;
  let env: TestEnv;
  beforeAll(async () => {
    plane = await startPlaneStandin({ apiKey: 'plane-key', workspaceSlug: 'acme' });
    env = await createTestEnv('planecomments', {
      plane: { baseUrl: plane.baseUrl, apiKey: 'plane-key', workspaceSlug: 'acme', webhookSecret: 'secret' },
    });
  });
  afterAll(async () => {
    await env?.cleanup();
    await plane?.close();
  });

  const commentsOn = (item: string) => (plane.comments.get(item) ?? []).map((c) => c.comment_html);

  it('posts the stage comments and the final one in order, retrying a 429 after the reset', async () => {
    const item = '11111111-2222-4333-8444-555555555555';
    // The first two comment calls are rate limited; Plane's 429 says when in Retry-After.
    plane.answer429(2, { inSeconds: 1 });
    await env.api('POST', '/api/tasks', { key: 'DEMO-7', repo: 'demo', title: 'commented', planeIssueId: item, planeProjectId: DEMO_PROJECT_ID });
    const done = await env.waitForStatus('DEMO-7', TERMINAL_STATUSES);
    expect(done.task.status).toBe('done');
    const comments = await env.until('the final comment', async () => {
      const c = commentsOn(item);
      return c.some((h) => /done|merged|deployed/i.test(h)) && c.length >= 8 ? c : null;
    });
    const stages = comments.map((h) => ['analysis', 'design', 'development', 'review', 'merge', 'deploy'].find((s) => h.includes(`<code>${s}</code>`)) ?? (/started/.test(h) ? 'started' : 'final'));
    expect(stages).toEqual(['started', 'analysis', 'design', 'development', 'review', 'merge', 'deploy', 'final']);
    const posts = plane.requests.filter((r) => r.method === 'POST' && r.url.includes(`/work-items/${item}/comments/`));
    expect(posts.filter((r) => r.status === 429)).toHaveLength(2);
    expect(posts[0]!.url).toBe(`/api/v1/workspaces/acme/projects/${DEMO_PROJECT_ID}/work-items/${item}/comments/`);
    expect(posts[0]!.apiKey).toBe('plane-key');
  });

  it('ends a stopped task with a comment that lists the compensation', async () => {
    const item = '21111111-2222-4333-8444-555555555555';
    await env.api('POST', '/api/tasks', {
      key: 'DEMO-8',
      repo: 'demo',
      title: 'stopped',
      description: '@agent hang=design',
      planeIssueId: item,
      planeProjectId: DEMO_PROJECT_ID,
    });
    const task = await env.until('the task row', () => env.records.taskByKey('DEMO-8'));
    await env.until('the design agent', async () => (await env.records.jobsOf(task.id)).some((j) => j.stage === 'design' && j.status === 'running'));
    await env.api('POST', '/api/tasks/DEMO-8/stop', { reason: 'not needed' });
    await env.waitForStatus('DEMO-8', ['cancelled']);
    const last = await env.until('the cancelled comment', async () => commentsOn(item).find((h) => /cancel/i.test(h)));
    for (const step of ['stop the agent', 'cancel queued and running jobs', 'remove the worktree', 'delete the feature branch']) expect(last).toContain(step);
    expect(last).toContain('not needed');
  });

  it('skips tasks that have no Plane work item', async () => {
    const before = plane.requests.length;
    await env.api('POST', '/api/tasks', { key: 'NOPLANE-1', repo: 'demo', title: 'no plane ids' });
    await env.waitForStatus('NOPLANE-1', ['done', 'failed']);
    expect(plane.requests.length).toBe(before);
  });
});

describe('Plane progress comments on an older Plane (no work-items/ routes)', () => {
  let plane: PlaneStandin;
  let env: TestEnv;
  beforeAll(async () => {
    plane = await startPlaneStandin({ apiKey: 'plane-key', workspaceSlug: 'acme', legacyOnly: true });
    env = await createTestEnv('planecommentsold', {
      plane: { baseUrl: plane.baseUrl, apiKey: 'plane-key', workspaceSlug: 'acme', webhookSecret: 'secret' },
      pipeline: `${testAgentPipeline({ attempts: 1 })}stages:
  - { name: analysis, prompt: "analyse {{key}}", gate: { type: file-exists, path: "docs/tasks/{{key}}/analysis.md" } }
`,
    });
  });
  afterAll(async () => {
    await env?.cleanup();
    await plane?.close();
  });

  it('falls back to issues/{id}/comments/ once, then stays there', async () => {
    const item = '31111111-2222-4333-8444-555555555555';
    await env.api('POST', '/api/tasks', { key: 'DEMO-9', repo: 'demo', title: 'old plane', planeIssueId: item, planeProjectId: DEMO_PROJECT_ID });
    expect((await env.waitForStatus('DEMO-9', TERMINAL_STATUSES)).task.status).toBe('done');
    const comments = await env.until('the final comment', async () => {
      const c = (plane.comments.get(item) ?? []).map((x) => x.comment_html);
      return c.some((h) => /done/i.test(h)) ? c : null;
    });
    expect(comments[0]).toMatch(/pipeline started/);
    const posts = plane.requests.filter((r) => r.method === 'POST').map((r) => [r.url.replace(/^.*\/projects\/[^/]+\//, ''), r.status]);
    // One 404 on the new path, then every comment on the old one.
    expect(posts[0]).toEqual([`work-items/${item}/comments/`, 404]);
    expect(posts.slice(1)).toEqual(Array(comments.length).fill([`issues/${item}/comments/`, 201]));
  });
});
