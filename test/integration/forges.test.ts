// The pipeline through the Gitea and the GitHub forge, on their stand-ins (test/support/*-standin.ts)
// over the run's guarded bare remote: orch pushes with git, opens and merges the PR through the API.
// A task reaches done; a task whose branch conflicts with main fails after one merge attempt, with
// the conflicting file named and main untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES, stateQuery, taskWorkflowId } from '../../workflows/contracts/index.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { branchSha, cloneRemote, commitFile, gitIn } from '../support/git-fixtures.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.js';
import { startGiteaStandin, type GiteaStandin } from '../support/gitea-standin.js';

type Standin = GiteaStandin | GitHubStandin;

const FORGES = [
  {
    name: 'Gitea',
    tokenEnv: 'ORCH_TEST_GITEA_TOKEN',
    start: (bareRepoPath: string, token: string) => startGiteaStandin({ token, owner: 'acme', repo: 'demo', bareRepoPath, checkDelayMs: 300 }),
    yaml: (s: Standin, tokenEnv: string) => `{ type: gitea, baseUrl: "${s.baseUrl}", owner: acme, repo: demo, tokenEnv: ${tokenEnv} }`,
    mergeRequest: (r: { method: string; url: string }) => r.method === 'POST' && r.url.endsWith('/merge'),
  },
  {
    name: 'GitHub',
    tokenEnv: 'ORCH_TEST_GITHUB_TOKEN',
    start: (bareRepoPath: string, token: string) => startGitHubStandin({ token, owner: 'acme', repo: 'demo', bareRepoPath, computeDelayMs: 300 }),
    yaml: (s: Standin, tokenEnv: string) => `{ type: github, owner: acme, repo: demo, tokenEnv: ${tokenEnv}, apiUrl: "${s.baseUrl}" }`,
    mergeRequest: (r: { method: string; url: string }) => r.method === 'PUT' && r.url.endsWith('/merge'),
  },
] as const;

describe.each(FORGES)('the pipeline through the $name forge', (f) => {
  let env: TestEnv;
  let standin: Standin;
  const token = `token-${f.name.toLowerCase()}-0123`;

  beforeAll(async () => {
    process.env[f.tokenEnv] = token;
    env = await createTestEnv(`forge-${f.name}`, {
      forge: async (remotePath) => {
        standin = await f.start(remotePath, token);
        return f.yaml(standin, f.tokenEnv);
      },
    });
  });
  afterAll(async () => {
    await env?.cleanup();
    await standin?.close();
    delete process.env[f.tokenEnv];
  });

  it('takes a task to done: PR opened, merged with the pushed commit, branch deleted through the API', async () => {
    const key = `${f.name.toUpperCase()}-1`;
    await env.api('POST', '/api/tasks', { key, repo: 'demo', title: 'Say hello' });
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status).toBe('done');

    const log = await gitIn(env.remote.path, 'log', '--format=%s', 'main');
    expect(log.split('\n')).toContain(`Merge orch/${key}: Say hello`);
    const pushed: string = done.events.filter((e: any) => e.type === 'stage-passed').at(-1).detail.sha;
    const merge = standin.requests.filter(f.mergeRequest).at(-1)!;
    expect(merge.status).toBe(200);
    const sent = (merge.body as Record<string, string>).head_commit_id ?? (merge.body as Record<string, string>).sha;
    // The merge carried the commit the last gate passed, and that commit is what main merged.
    expect(sent).toBe(pushed);
    expect(await gitIn(env.remote.path, 'rev-parse', 'main^2')).toBe(pushed);
    expect(standin.requests.every((r) => r.authorization === `token ${token}`)).toBe(true);
    expect(standin.requests.some((r) => r.method === 'DELETE' && r.status === 204)).toBe(true);
    expect(await branchSha(env.remote.path, `orch/${key}`)).toBeNull();
  });

  it('fails a task whose branch conflicts with main after one merge attempt, naming the file, main untouched', async () => {
    const key = `${f.name.toUpperCase()}-2`;
    await env.api('POST', '/api/tasks', { key, repo: 'demo', title: 'Clash', description: '@agent sleep=review:2' });
    const handle = env.client.workflow.getHandle(taskWorkflowId(key));
    await env.until(`${key} to reach review`, async () => (await handle.query(stateQuery)).stage === 'review');
    // Meanwhile somebody lands the same report on main.
    const clone = await cloneRemote(env.remote.path);
    const main = await commitFile(clone, `docs/tasks/${key}/review.md`, 'somebody else\n');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');

    const failed = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(failed.task.status).toBe('failed');
    expect(failed.task.failureReason).toMatch(new RegExp(`merging orch/${key} into main conflicts in docs/tasks/${key}/review\\.md`));
    expect(await branchSha(env.remote.path, 'main')).toBe(main);

    const history = (await handle.fetchHistory()).events ?? [];
    const merges = history.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'mergeFeatureBranch');
    expect(merges).toHaveLength(1);
    const started = history.filter((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.scheduledEventId?.toString() === merges[0]!.eventId?.toString());
    expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
  });
});
