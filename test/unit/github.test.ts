import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitConflictProbe } from '../../activities/adapters/forge/conflict-probe.js';
import { createGitHubForge, type GitHubForgeOptions } from '../../activities/adapters/forge/github.js';
import { rateLimitWait } from '../../activities/adapters/forge/github-rate-limit.js';
import { BranchMovedError, MergeConflictError, NotMergeableError, type Forge } from '../../activities/adapters/forge/types.js';
import { BranchProtectedError } from '../../activities/adapters/git.js';
import { type BareRemote, branchSha, cloneRemote, commitFile, createBareRemote, gitIn, mkTmpDir, removeTmpDirs, showFile } from '../support/git-fixtures.js';
import { startGitHubStandin, type GitHubStandin, type GitHubStandinOptions } from '../support/github-standin.js';

const TOKEN = 'ghp_0123456789';
const coords = { owner: 'acme', repo: 'widgets' };
const WAIT = { timeoutMs: 15_000, initialDelayMs: 20, maxDelayMs: 100 };

let remote: BareRemote;
let github: GitHubStandin;
let forge: Forge;
let options: GitHubForgeOptions;
let slept: number[];

async function start(extra: Partial<GitHubStandinOptions> = {}) {
  github = await startGitHubStandin({ token: TOKEN, ...coords, bareRepoPath: remote.path, protectedBranches: ['orch/frozen'], ...extra });
  const probe = createGitConflictProbe({ cacheDir: await mkTmpDir('orch-mirrors-'), remote: remote.path });
  slept = [];
  const sleep = async (ms: number) => {
    slept.push(ms);
  };
  options = { apiUrl: github.baseUrl, token: TOKEN, ...coords, probe, wait: WAIT, rateLimit: { sleep, maxWaitMs: 120_000 } };
  forge = createGitHubForge(options);
}

beforeEach(async () => {
  remote = await createBareRemote(path.join(await mkTmpDir(), 'widgets.git'));
});
afterEach(async () => {
  await github?.close();
  await removeTmpDirs();
});

async function pushBranchWith(branch: string, file: string, content: string, from?: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  await gitIn(clone, 'switch', '--quiet', ...(from ? [from] : ['-c', branch]));
  const sha = await commitFile(clone, file, content);
  await gitIn(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}
async function pushToMain(file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  const sha = await commitFile(clone, file, content);
  await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  return sha;
}

const puts = () => github.requests.filter((r) => r.method === 'PUT');
const answers = () => puts().map((r) => `${r.status} ${(r.response as { message?: string }).message}`);
const pr = { base: 'main', title: 'KEY-1: add widget', body: 'Automated by orch' };

describe('GitHub: pull requests', () => {
  beforeEach(() => start());

  it('creates a PR (201), and on the 422 for an existing one finds it by head and base', async () => {
    await pushBranchWith('orch/KEY-1', 'w.txt', 'widget');
    const created = await forge.openPullRequest({ branch: 'orch/KEY-1', ...pr });
    expect(created).toEqual({ number: 1, url: 'https://github.invalid/acme/widgets/pull/1', existed: false });
    expect(github.requests[0]).toMatchObject({
      method: 'POST',
      url: '/repos/acme/widgets/pulls',
      authorization: `token ${TOKEN}`,
      body: { head: 'orch/KEY-1', base: 'main', title: pr.title, body: pr.body },
      status: 201,
    });
    const again = await forge.openPullRequest({ branch: 'orch/KEY-1', ...pr });
    expect(again).toEqual({ ...created, existed: true });
    expect(github.requests[1]!.status).toBe(422);
    expect(github.requests[1]!.response).toMatchObject({ errors: [{ message: 'A pull request already exists for acme:orch/KEY-1.' }] });
    const list = new URL(github.requests[2]!.url, 'http://x').searchParams;
    expect([list.get('head'), list.get('base'), list.get('state')]).toEqual(['acme:orch/KEY-1', 'main', 'open']);
  });

  it('surfaces a 422 for a missing field with GitHub’s errors, and 401 for a bad token', async () => {
    await pushBranchWith('orch/KEY-2', 'w.txt', 'widget');
    const err = (await forge.openPullRequest({ branch: 'orch/KEY-2', base: 'main', title: '', body: '' }).catch((e: unknown) => e)) as {
      status: number;
      response: { data: unknown };
    };
    expect(err.status).toBe(422);
    expect(err.response.data).toMatchObject({ message: 'Validation Failed', errors: [{ code: 'missing_field', field: 'title' }] });

    const intruder = createGitHubForge({ ...options, token: 'wrong' });
    const denied = (await intruder.openPullRequest({ branch: 'orch/KEY-2', ...pr }).catch((e: unknown) => e)) as { status: number; message: string };
    expect(denied.status).toBe(401);
    expect(denied.message).not.toContain('wrong');
  });
});

describe('GitHub: paging', () => {
  it('follows the Link header through 10-item pages to find the merged PR among closed ones', async () => {
    await start({ maxPerPage: 10 });
    const first = await pushBranchWith('orch/P', 'w.txt', 'one');
    const one = await forge.openPullRequest({ branch: 'orch/P', base: 'main', title: 'P', body: '' });
    expect((await forge.merge({ branch: 'orch/P', base: 'main', pr: one.number, message: 'm', headSha: first })).merged).toBe(true);
    const mainSha = await branchSha(remote.path, 'main');
    // Later PRs from the same branch, all closed unmerged: the merged one is the oldest of 25.
    await pushBranchWith('orch/P', 'w.txt', 'two', 'orch/P');
    for (let i = 0; i < 24; i++) {
      const { number } = await forge.openPullRequest({ branch: 'orch/P', base: 'main', title: `P again ${i}`, body: '' });
      await fetch(`${github.baseUrl}/repos/acme/widgets/pulls/${number}`, {
        method: 'PATCH',
        headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ state: 'closed' }),
      });
    }
    github.requests.length = 0;
    const found = await forge.merge({ branch: 'orch/P', base: 'main', pr: null, message: 'm', headSha: first });
    expect(found).toEqual({ merged: false, alreadyMerged: true, sha: mainSha });
    const closed = github.requests.filter((r) => r.method === 'GET' && new URL(r.url, 'http://x').searchParams.get('state') === 'closed');
    expect(closed.map((r) => (r.response as unknown[]).length)).toEqual([10, 10, 5]);
    expect(new URL(closed[2]!.url, 'http://x').searchParams.get('page')).toBe('3');
  });
});

describe('GitHub: the merge', () => {
  it('waits while `mergeable` is null, then merges with `sha`', async () => {
    await start({ computeDelayMs: 300 });
    const work = await pushBranchWith('orch/KEY-3', 'w.txt', 'widget');
    const before = await branchSha(remote.path, 'main');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-3', ...pr });
    const merged = await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: number, message: 'Merge KEY-3\n\nDetails', headSha: work });
    const mainSha = await branchSha(remote.path, 'main');
    expect(merged).toEqual({ merged: true, alreadyMerged: false, sha: mainSha });
    const looks = github.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/pulls/${number}`));
    expect(looks[0]!.response).toMatchObject({ mergeable: null, mergeable_state: 'unknown' });
    expect(puts()).toHaveLength(1);
    expect(puts()[0]).toMatchObject({ body: { merge_method: 'merge', sha: work, commit_title: 'Merge KEY-3', commit_message: 'Details' }, status: 200 });
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P|%B', 'main')).toBe(`${before} ${work}|Merge KEY-3\n\nDetails`);

    const again = await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: number, message: 'm', headSha: work });
    expect(again).toEqual({ merged: false, alreadyMerged: true, sha: mainSha });
    expect(await branchSha(remote.path, 'main')).toBe(mainSha);
  });

  it('fails a PR GitHub computed as conflicting ("dirty"), with the files git names, in one call', async () => {
    await start();
    const work = await pushBranchWith('orch/KEY-4', 'README.md', 'branch\n');
    const main = await pushToMain('README.md', 'main\n');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-4', ...pr });
    const err = await forge.merge({ branch: 'orch/KEY-4', base: 'main', pr: number, message: 'm', headSha: work }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect((err as MergeConflictError).files).toEqual(['README.md']);
    expect((err as Error).message).toContain('mergeable_state "dirty"');
    expect(puts()).toEqual([]);
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('fails on the 405 when `mergeable` was stale and the merge finds the conflict', async () => {
    let main = '';
    await start({
      hooks: {
        mergeChecked: async () => {
          if (!main) main = await pushToMain('README.md', 'main\n');
        },
      },
    });
    const work = await pushBranchWith('orch/KEY-5', 'README.md', 'branch\n');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-5', ...pr });
    await github.settled();
    const err = await forge.merge({ branch: 'orch/KEY-5', base: 'main', pr: number, message: 'm', headSha: work }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect(answers()).toEqual(['405 Pull Request is not mergeable']);
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('retries when the base moved during the merge (405 "Base branch was modified"), and merges on top', async () => {
    let moved = '';
    await start({
      hooks: {
        beforePush: async () => {
          if (!moved) moved = await pushToMain('other.txt', 'other\n');
        },
      },
    });
    const work = await pushBranchWith('orch/KEY-6', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-6', ...pr });
    await github.settled();
    expect((await forge.merge({ branch: 'orch/KEY-6', base: 'main', pr: number, message: 'm', headSha: work })).merged).toBe(true);
    expect(answers()[0]).toBe('405 Base branch was modified. Review and try the merge again.');
    expect(answers().at(-1)).toBe('200 Pull Request successfully merged');
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P', 'main')).toBe(`${moved} ${work}`);
  });

  it('retries the 409 while the PR has not caught up with the push, and merges the pushed commit', async () => {
    let release: (() => void) | undefined;
    await start({ hooks: { replied: (r) => r.status === 409 && release?.() } });
    await pushBranchWith('orch/KEY-7', 'w.txt', 'one');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-7', ...pr });
    await github.settled();
    github.requests.length = 0;
    release = github.hold();
    const second = await pushBranchWith('orch/KEY-7', 'w.txt', 'two', 'orch/KEY-7');

    expect((await forge.merge({ branch: 'orch/KEY-7', base: 'main', pr: number, message: 'm', headSha: second })).merged).toBe(true);
    expect(answers()[0]).toBe('409 Head branch was modified. Review and try the merge again.');
    expect(answers().at(-1)).toBe('200 Pull Request successfully merged');
    expect(puts().every((r) => (r.body as { sha: string }).sha === second)).toBe(true);
    expect(await showFile(remote.path, 'main', 'w.txt')).toBe('two');
  });

  it('refuses a branch that moved past the commit the gates passed', async () => {
    await start();
    const gated = await pushBranchWith('orch/KEY-8', 'w.txt', 'one');
    const ungated = await pushBranchWith('orch/KEY-8', 'w.txt', 'unreviewed', 'orch/KEY-8');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-8', ...pr });
    const main = await branchSha(remote.path, 'main');
    const impatient = createGitHubForge({ ...options, wait: { timeoutMs: 500, initialDelayMs: 20, maxDelayMs: 50 } });
    const err = await impatient.merge({ branch: 'orch/KEY-8', base: 'main', pr: number, message: 'm', headSha: gated }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BranchMovedError);
    expect((err as BranchMovedError).actual).toBe(ungated);
    expect(new Set(puts().map((r) => r.status))).toEqual(new Set([409]));
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('answers NotMergeableError when there is no PR for the branch', async () => {
    await start();
    await expect(forge.merge({ branch: 'orch/none', base: 'main', pr: null, message: 'm' })).rejects.toBeInstanceOf(NotMergeableError);
  });
});

describe('GitHub: rate limits and branches', () => {
  beforeEach(() => start());

  it('waits out a secondary limit (retry-after) and a primary one (x-ratelimit-reset), then goes on', async () => {
    await pushBranchWith('orch/KEY-9', 'w.txt', 'widget');
    github.rateLimitNext('secondary', 7);
    const created = await forge.openPullRequest({ branch: 'orch/KEY-9', ...pr });
    expect(created.existed).toBe(false);
    expect(slept).toEqual([7_000]);
    expect(github.requests.map((r) => r.status)).toEqual([403, 201]);

    github.rateLimitNext('primary', 30);
    await forge.openPullRequest({ branch: 'orch/KEY-9', ...pr });
    expect(slept[1]).toBeGreaterThan(25_000);
    expect(slept[1]).toBeLessThanOrEqual(31_000);
  });

  it('tells a rate limit from a permission error', () => {
    const headers = (h: Record<string, string>) => ({ response: { headers: h, data: { message: 'x' } } });
    expect(rateLimitWait({ status: 429, ...headers({ 'retry-after': '3' }) }, 0)).toBe(3000);
    expect(rateLimitWait({ status: 403, ...headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1010' }) }, 0, 1_000_000)).toBe(10_000);
    expect(rateLimitWait({ status: 403, response: { headers: {}, data: { message: 'You have exceeded a secondary rate limit.' } } }, 1)).toBe(120_000);
    expect(rateLimitWait({ status: 403, ...headers({ 'x-ratelimit-remaining': '4999' }) }, 0)).toBeNull();
    expect(rateLimitWait({ status: 404, ...headers({ 'retry-after': '3' }) }, 0)).toBeNull();
  });

  it('deletes branches: 204, then 422 "Reference does not exist" = absent, protected = refused', async () => {
    await pushBranchWith('orch/KEY-10', 'w.txt', 'widget');
    await pushBranchWith('orch/frozen', 'f.txt', 'frozen');
    const policy = { defaultBranch: 'main', protectedBranches: [] };
    expect(await forge.deleteBranch({ branch: 'orch/KEY-10', ...policy })).toEqual({ deleted: true, absent: false });
    expect(github.requests.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    expect(decodeURIComponent(github.requests.at(-1)!.url)).toBe('/repos/acme/widgets/git/refs/heads/orch/KEY-10');
    expect(await branchSha(remote.path, 'orch/KEY-10')).toBeNull();
    expect(await forge.deleteBranch({ branch: 'orch/KEY-10', ...policy })).toEqual({ deleted: false, absent: true });
    const frozen = await forge.deleteBranch({ branch: 'orch/frozen', ...policy }).catch((e: unknown) => e);
    expect(frozen).toBeInstanceOf(BranchProtectedError);
    expect((frozen as BranchProtectedError).reason).toBe('forge-refused');
    expect(await branchSha(remote.path, 'orch/frozen')).not.toBeNull();
    // orch's own policy first: main is never asked for.
    const count = github.requests.length;
    await expect(forge.deleteBranch({ branch: 'main', ...policy })).rejects.toBeInstanceOf(BranchProtectedError);
    expect(github.requests).toHaveLength(count);
  });
});
