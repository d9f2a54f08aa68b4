import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitConflictProbe } from '../../activities/adapters/forge/conflict-probe.js';
import { GiteaApiError, GiteaClient, createGiteaForge, type GiteaForgeOptions } from '../../activities/adapters/forge/gitea.js';
import { errorMessage } from '../../activities/adapters/forge/gitea-client.js';
import { BranchMovedError, MergeConflictError, NotMergeableError, type Forge } from '../../activities/adapters/forge/types.js';
import { BranchProtectedError } from '../../activities/adapters/git.js';
import {
  type BareRemote,
  branchSha,
  cloneRemote,
  commitFile,
  createBareRemote,
  gitIn,
  mkTmpDir,
  removeTmpDirs,
  showFile,
} from '../support/git-fixtures.js';
import { startGiteaStandin, type GiteaStandin, type GiteaStandinOptions } from '../support/gitea-standin.js';

const TOKEN = 'pat-0123456789';
const repoCoords = { owner: 'acme', repo: 'widgets' };
const WAIT = { timeoutMs: 15_000, initialDelayMs: 20, maxDelayMs: 100 };

let remote: BareRemote;
let gitea: GiteaStandin;
let forge: Forge;
let client: GiteaClient;
let forgeOptions: GiteaForgeOptions;

async function start(extra: Partial<GiteaStandinOptions> = {}) {
  gitea = await startGiteaStandin({ token: TOKEN, ...repoCoords, bareRepoPath: remote.path, protectedBranches: ['orch/frozen'], ...extra });
  const probe = createGitConflictProbe({ cacheDir: await mkTmpDir('orch-mirrors-'), remote: remote.path });
  forgeOptions = { baseUrl: `${gitea.baseUrl}/`, token: TOKEN, ...repoCoords, probe, wait: WAIT };
  forge = createGiteaForge(forgeOptions);
  client = new GiteaClient(forgeOptions);
}

beforeEach(async () => {
  remote = await createBareRemote(path.join(await mkTmpDir(), 'widgets.git'));
});
afterEach(async () => {
  await gitea?.close();
  await removeTmpDirs();
});

async function pushBranchWith(branch: string, file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  await gitIn(clone, 'switch', '--quiet', '-c', branch);
  const sha = await commitFile(clone, file, content);
  await gitIn(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

/** Somebody else commits `file` on main. */
async function pushToMain(file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  const sha = await commitFile(clone, file, content);
  await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  return sha;
}

const lastRequest = () => gitea.requests.at(-1)!;
const merges = () => gitea.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/merge'));
const trail = () => gitea.requests.map((r) => `${r.method} ${r.url.replace(/.*\/widgets/, '').replace(/\?.*/, '')} ${r.status}`);
const pr = { base: 'main', title: 'KEY-1: add widget', body: 'Automated by orch' };

describe('Gitea: pull requests', () => {
  beforeEach(() => start());

  it('creates a PR (201), and returns the open one on a duplicate (409)', async () => {
    await pushBranchWith('orch/KEY-1', 'w.txt', 'widget');
    const created = await forge.openPullRequest({ branch: 'orch/KEY-1', ...pr });
    expect(created).toEqual({ number: 1, url: `${gitea.baseUrl}/acme/widgets/pulls/1`, existed: false });
    expect(gitea.requests[0]).toMatchObject({
      method: 'POST',
      url: '/api/v1/repos/acme/widgets/pulls',
      authorization: `token ${TOKEN}`,
      body: { head: 'orch/KEY-1', base: 'main', title: pr.title, body: pr.body },
      status: 201,
    });

    const again = await forge.openPullRequest({ branch: 'orch/KEY-1', ...pr });
    expect(again).toEqual({ ...created, existed: true });
    // The list has no head filter: orch reads until an empty page.
    expect(trail()).toEqual(['POST /pulls 201', 'POST /pulls 409', 'GET /pulls 200', 'GET /pulls 200']);
  });

  it('answers a missing field with 422 and a JSON array, and the client names the field', async () => {
    await pushBranchWith('orch/KEY-2', 'w.txt', 'widget');
    const err = await client.createPullRequest({ head: 'orch/KEY-2', base: 'main', title: '', body: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GiteaApiError);
    expect((err as GiteaApiError).status).toBe(422);
    expect(JSON.parse((err as GiteaApiError).body)).toEqual([{ fieldNames: ['Title'], classification: 'RequiredError', message: 'Required' }]);
    expect(errorMessage((err as GiteaApiError).body)).toBe('Title: Required');
  });
});

describe('Gitea: paging', () => {
  it('pages through a 10-item page limit until an empty page, for the open PR and for a merged one', async () => {
    await start({ maxResponseItems: 10 });
    const base = await branchSha(remote.path, 'main');
    const work = await pushBranchWith('orch/P-0', 'w.txt', 'widget');
    for (let i = 1; i <= 24; i++) await gitIn(remote.path, 'update-ref', `refs/heads/orch/P-${i}`, work);
    for (let i = 0; i <= 24; i++) await forge.openPullRequest({ branch: `orch/P-${i}`, base: 'main', title: `P-${i}`, body: '' });

    gitea.requests.length = 0;
    // The oldest PR is on the third page of ten: a client that stops at a short page never sees it.
    const again = await forge.openPullRequest({ branch: 'orch/P-0', base: 'main', title: 'P-0', body: '' });
    expect(again).toMatchObject({ number: 1, existed: true });
    const lists = gitea.requests.filter((r) => r.method === 'GET');
    expect(lists.map((r) => new URL(r.url, 'http://x').searchParams.get('page'))).toEqual(['1', '2', '3', '4']);
    expect(lists.map((r) => (r.response as unknown[]).length)).toEqual([10, 10, 5, 0]);
    expect(new URL(lists[0]!.url, 'http://x').searchParams.get('limit')).toBe('50');

    // Merged through its PR, then found again by branch alone (closed PRs, paged the same way).
    await gitea.settled();
    expect((await forge.merge({ branch: 'orch/P-0', base: 'main', pr: 1, message: 'm', headSha: work })).merged).toBe(true);
    const again2 = await forge.merge({ branch: 'orch/P-0', base: 'main', pr: null, message: 'm', headSha: work });
    expect(again2).toEqual({ merged: false, alreadyMerged: true, sha: await branchSha(remote.path, 'main') });
    expect(await branchSha(remote.path, 'main')).not.toBe(base);
  });
});

describe('Gitea: the merge', () => {
  it('waits for a PR still checking, then merges it with head_commit_id', async () => {
    await start({ checkDelayMs: 300 });
    const work = await pushBranchWith('orch/KEY-3', 'w.txt', 'widget');
    const before = await branchSha(remote.path, 'main');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-3', ...pr });
    expect(gitea.status(number!)).toBe('checking');

    const merged = await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: number, message: 'Merge KEY-3\n\nDetails', headSha: work });
    const mainSha = await branchSha(remote.path, 'main');
    expect(merged).toEqual({ merged: true, alreadyMerged: false, sha: mainSha });
    const looks = gitea.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/pulls/${number}`));
    expect((looks[0]!.response as { mergeable: boolean }).mergeable).toBe(false);
    expect(merges()).toHaveLength(1);
    expect(merges()[0]).toMatchObject({
      body: { Do: 'merge', head_commit_id: work, MergeTitleField: 'Merge KEY-3', MergeMessageField: 'Details' },
      status: 200,
    });
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P|%B', 'main')).toBe(`${before} ${work}|Merge KEY-3\n\nDetails`);

    // Merging again: Gitea says merged; main does not move.
    const again = await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: number, message: 'm', headSha: work });
    expect(again).toEqual({ merged: false, alreadyMerged: true, sha: mainSha });
    expect(await branchSha(remote.path, 'main')).toBe(mainSha);
  });

  it('waits out a 405 "Please try again later" when the PR went back to checking, then merges', async () => {
    let rechecked = false;
    await start({
      checkDelayMs: 150,
      hooks: {
        mergeRequested: (n) => {
          if (rechecked) return;
          rechecked = true;
          gitea.recheck(n);
        },
      },
    });
    const work = await pushBranchWith('orch/KEY-4', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-4', ...pr });
    await gitea.settled();

    const merged = await forge.merge({ branch: 'orch/KEY-4', base: 'main', pr: number, message: 'm', headSha: work });
    expect(merged.merged).toBe(true);
    expect(merges().map((r) => [r.status, (r.response as { message?: string } | undefined)?.message])).toEqual([
      [405, 'Please try again later'],
      [200, undefined],
    ]);
  });

  it('fails a PR the checker marked conflicting (405 to a merge) with the files, in one call, main untouched', async () => {
    await start();
    const work = await pushBranchWith('orch/KEY-5', 'README.md', 'branch\n');
    const main = await pushToMain('README.md', 'main\n');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-5', ...pr });
    await gitea.settled();
    expect(gitea.status(number!)).toBe('conflict');
    // What a merge request gets from Gitea then: the same 405 as while checking.
    const raw = await fetch(`${gitea.baseUrl}/api/v1/repos/acme/widgets/pulls/${number}/merge`, {
      method: 'POST',
      headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ Do: 'merge' }),
    });
    expect(raw.status).toBe(405);
    expect(await raw.json()).toMatchObject({ message: 'Please try again later' });

    const err = await forge.merge({ branch: 'orch/KEY-5', base: 'main', pr: number, message: 'm', headSha: work }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect((err as MergeConflictError).files).toEqual(['README.md']);
    expect((err as Error).message).toMatch(/orch\/KEY-5 into main conflicts in README\.md/);
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('fails on the racing 409 (the checker behind the base), with the files Gitea names', async () => {
    let raced = false;
    let main = '';
    await start({
      hooks: {
        mergeChecked: async () => {
          if (raced) return;
          raced = true;
          main = await pushToMain('README.md', 'main\n');
        },
      },
    });
    const work = await pushBranchWith('orch/KEY-6', 'README.md', 'branch\n');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-6', ...pr });
    await gitea.settled();

    const err = await forge.merge({ branch: 'orch/KEY-6', base: 'main', pr: number, message: 'm', headSha: work }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect((err as MergeConflictError).files).toEqual(['README.md']);
    expect(merges().map((r) => r.status)).toEqual([409]);
    expect(merges()[0]!.response).toMatchObject({ Style: 'merge', StdOut: expect.stringContaining('CONFLICT (content): Merge conflict in README.md') });
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('retries "merge push out of date" (the base moved during the merge) and merges on top', async () => {
    let moved = '';
    await start({
      hooks: {
        beforePush: async () => {
          if (!moved) moved = await pushToMain('other.txt', 'other\n');
        },
      },
    });
    const work = await pushBranchWith('orch/KEY-7', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-7', ...pr });
    await gitea.settled();

    const merged = await forge.merge({ branch: 'orch/KEY-7', base: 'main', pr: number, message: 'm', headSha: work });
    expect(merged.merged).toBe(true);
    // Gitea may notice the moved base before the retry (405 while it re-checks) or after.
    const answers = merges().map((r) => `${r.status} ${(r.response as { message?: string } | undefined)?.message ?? ''}`.trim());
    expect(answers[0]).toBe('409 merge push out of date');
    expect(answers.at(-1)).toBe('200');
    expect(answers.slice(1, -1).every((a) => a === '405 Please try again later')).toBe(true);
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P', 'main')).toBe(`${moved} ${work}`);
    expect(await showFile(remote.path, 'main', 'other.txt')).toBe('other');
  });

  it('retries "head out of date" while Gitea has not caught up with the push, and merges the pushed commit', async () => {
    let release: (() => void) | undefined;
    await start({ hooks: { replied: (r) => r.status === 409 && release?.() } });
    await pushBranchWith('orch/KEY-8', 'w.txt', 'one');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-8', ...pr });
    await gitea.settled();
    // A second push that Gitea has not reacted to yet.
    release = gitea.hold();
    const clone = await cloneRemote(remote.path);
    await gitIn(clone, 'switch', '--quiet', 'orch/KEY-8');
    const second = await commitFile(clone, 'w.txt', 'two');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/orch/KEY-8');

    const merged = await forge.merge({ branch: 'orch/KEY-8', base: 'main', pr: number, message: 'm', headSha: second });
    expect(merged.merged).toBe(true);
    expect(merges().map((r) => [r.status, (r.response as { message?: string } | undefined)?.message])).toEqual([
      [409, 'head out of date'],
      [200, undefined],
    ]);
    expect(merges().every((r) => (r.body as { head_commit_id: string }).head_commit_id === second)).toBe(true);
    expect(await showFile(remote.path, 'main', 'w.txt')).toBe('two');
  });

  it('refuses a branch that moved past the commit the gates passed, leaving main alone', async () => {
    await start();
    const gated = await pushBranchWith('orch/KEY-9', 'w.txt', 'one');
    const clone = await cloneRemote(remote.path);
    await gitIn(clone, 'switch', '--quiet', 'orch/KEY-9');
    const ungated = await commitFile(clone, 'w.txt', 'unreviewed');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/orch/KEY-9');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-9', ...pr });
    await gitea.settled();
    const main = await branchSha(remote.path, 'main');

    const impatient = createGiteaForge({ ...forgeOptions, wait: { timeoutMs: 400, initialDelayMs: 20, maxDelayMs: 50 } });
    const err = await impatient.merge({ branch: 'orch/KEY-9', base: 'main', pr: number, message: 'm', headSha: gated }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BranchMovedError);
    expect((err as BranchMovedError).actual).toBe(ungated);
    expect(new Set(merges().map((r) => r.status))).toEqual(new Set([409]));
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('gives up on a PR that stays checking after the bound, as not mergeable (a retry may help)', async () => {
    await start({ checkDelayMs: 60_000 });
    const work = await pushBranchWith('orch/KEY-10', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-10', ...pr });
    const impatient = createGiteaForge({ ...forgeOptions, wait: { timeoutMs: 300, initialDelayMs: 20, maxDelayMs: 50 } });
    const err = await impatient.merge({ branch: 'orch/KEY-10', base: 'main', pr: number, message: 'm', headSha: work }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotMergeableError);
    expect((err as Error).message).toMatch(/still checking.*still so after 300 ms/);
    expect(merges()).toEqual([]);
  });

  it('answers NotMergeableError when there is no PR for the branch', async () => {
    await start();
    await expect(forge.merge({ branch: 'orch/none', base: 'main', pr: null, message: 'm' })).rejects.toBeInstanceOf(NotMergeableError);
  });
});

describe('Gitea: branches and auth', () => {
  beforeEach(() => start());

  it('deletes branches: 204, then 404 = absent, 403 = protected', async () => {
    await pushBranchWith('orch/KEY-11', 'w.txt', 'widget');
    await pushBranchWith('orch/frozen', 'f.txt', 'frozen');
    const policy = { defaultBranch: 'main', protectedBranches: [] };

    expect(await forge.deleteBranch({ branch: 'orch/KEY-11', ...policy })).toEqual({ deleted: true, absent: false });
    expect(lastRequest()).toMatchObject({ method: 'DELETE', url: '/api/v1/repos/acme/widgets/branches/orch%2FKEY-11', status: 204 });
    expect(await branchSha(remote.path, 'orch/KEY-11')).toBeNull();

    expect(await forge.deleteBranch({ branch: 'orch/KEY-11', ...policy })).toEqual({ deleted: false, absent: true });
    expect(lastRequest().status).toBe(404);

    const frozen = await forge.deleteBranch({ branch: 'orch/frozen', ...policy }).catch((e: unknown) => e);
    expect(frozen).toBeInstanceOf(BranchProtectedError);
    expect((frozen as BranchProtectedError).reason).toBe('forge-refused');
    expect(lastRequest().status).toBe(403);
    expect(await branchSha(remote.path, 'orch/frozen')).not.toBeNull();
  });

  it('never sends a delete for main; the raw client gets 403 from Gitea for it', async () => {
    const policy = { defaultBranch: 'main', protectedBranches: [] };
    await expect(forge.deleteBranch({ branch: 'main', ...policy })).rejects.toBeInstanceOf(BranchProtectedError);
    expect(gitea.requests).toEqual([]);

    await expect(client.deleteBranch('main')).rejects.toBeInstanceOf(BranchProtectedError);
    expect(lastRequest()).toMatchObject({ method: 'DELETE', url: '/api/v1/repos/acme/widgets/branches/main', status: 403 });
    expect(await branchSha(remote.path, 'main')).not.toBeNull();
  });

  it('surfaces 401 for a bad token, and any unexpected status with its body', async () => {
    await pushBranchWith('orch/KEY-12', 'w.txt', 'widget');
    const intruder = createGiteaForge({ baseUrl: gitea.baseUrl, token: 'wrong', ...repoCoords });
    const err = await intruder.openPullRequest({ branch: 'orch/KEY-12', ...pr }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GiteaApiError);
    expect((err as GiteaApiError).status).toBe(401);
    expect((err as Error).message).not.toContain('wrong');
    expect(lastRequest()).toMatchObject({ authorization: 'token wrong', status: 401 });

    const missing = await forge.openPullRequest({ branch: 'orch/absent', ...pr }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(GiteaApiError);
    expect((missing as GiteaApiError).status).toBe(404);
    expect((missing as GiteaApiError).body).toContain('message');
  });
});
