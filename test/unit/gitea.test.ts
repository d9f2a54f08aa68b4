import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GiteaApiError, GiteaClient, createGiteaForge } from '../../activities/adapters/forge/gitea.js';
import { MergeConflictError, NotMergeableError, type Forge } from '../../activities/adapters/forge/types.js';
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
import { startGiteaStandin, type GiteaStandin } from '../support/gitea-standin.js';

const TOKEN = 'pat-0123456789';
const repoCoords = { owner: 'acme', repo: 'widgets' };

let remote: BareRemote;
let gitea: GiteaStandin;
let forge: Forge;
let client: GiteaClient;

beforeEach(async () => {
  remote = await createBareRemote(path.join(await mkTmpDir(), 'widgets.git'));
  gitea = await startGiteaStandin({
    token: TOKEN,
    ...repoCoords,
    bareRepoPath: remote.path,
    protectedBranches: ['orch/frozen'],
  });
  const options = { baseUrl: `${gitea.baseUrl}/`, token: TOKEN, ...repoCoords };
  forge = createGiteaForge(options);
  client = new GiteaClient(options);
});
afterEach(async () => {
  await gitea.close();
  await removeTmpDirs();
});

async function pushBranchWith(branch: string, file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  await gitIn(clone, 'switch', '--quiet', '-c', branch);
  const sha = await commitFile(clone, file, content);
  await gitIn(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

const lastRequest = () => gitea.requests.at(-1)!;
const pr = { base: 'main', title: 'KEY-1: add widget', body: 'Automated by orch' };

describe('Gitea forge against the stand-in', () => {
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
    expect(gitea.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 201', 'POST 409', 'GET 200']);
  });

  it('merges (200), then reports alreadyMerged on the 405 that follows', async () => {
    const work = await pushBranchWith('orch/KEY-2', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-2', ...pr });
    const before = await branchSha(remote.path, 'main');

    const merged = await forge.merge({ branch: 'orch/KEY-2', base: 'main', pr: number, message: 'Merge KEY-2\n\nDetails' });
    const mainSha = await branchSha(remote.path, 'main');
    expect(merged).toEqual({ merged: true, alreadyMerged: false, sha: mainSha });
    expect(gitea.requests.find((r) => r.url.endsWith('/merge'))).toMatchObject({
      method: 'POST',
      url: `/api/v1/repos/acme/widgets/pulls/${number}/merge`,
      body: { Do: 'merge', MergeTitleField: 'Merge KEY-2', MergeMessageField: 'Details' },
      status: 200,
    });
    expect(await showFile(remote.path, 'main', 'w.txt')).toBe('widget');
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P|%B', 'main')).toBe(`${before} ${work}|Merge KEY-2\n\nDetails`);

    gitea.requests.length = 0;
    const again = await forge.merge({ branch: 'orch/KEY-2', base: 'main', pr: number, message: 'Merge KEY-2' });
    expect(again).toEqual({ merged: false, alreadyMerged: true, sha: mainSha });
    expect(gitea.requests.map((r) => `${r.method} ${r.url.replace(/.*\/pulls/, '/pulls')} ${r.status}`)).toEqual([
      'POST /pulls/1/merge 405',
      'GET /pulls/1/merge 204',
      'GET /pulls/1 200',
    ]);
    expect(await branchSha(remote.path, 'main')).toBe(mainSha);
  });

  it('finds the PR by branch when no number is given, encoding the branch in the path', async () => {
    await pushBranchWith('orch/KEY-3', 'w.txt', 'widget');
    await forge.openPullRequest({ branch: 'orch/KEY-3', ...pr });
    expect((await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: null, message: 'm' })).merged).toBe(true);

    const again = await forge.merge({ branch: 'orch/KEY-3', base: 'main', pr: null, message: 'm' });
    expect(again).toEqual({ merged: false, alreadyMerged: true, sha: await branchSha(remote.path, 'main') });
    expect(lastRequest()).toMatchObject({ method: 'GET', url: '/api/v1/repos/acme/widgets/pulls/main/orch%2FKEY-3', status: 200 });

    await expect(forge.merge({ branch: 'orch/none', base: 'main', pr: null, message: 'm' })).rejects.toBeInstanceOf(
      NotMergeableError,
    );
  });

  it('maps 405 on an unmerged PR to NotMergeableError', async () => {
    await pushBranchWith('orch/KEY-4', 'w.txt', 'widget');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-4', ...pr });
    gitea.setMergeable(number!, false);
    const err = await forge.merge({ branch: 'orch/KEY-4', base: 'main', pr: number, message: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotMergeableError);
    expect((err as Error).message).toContain('Please try again later');
    expect(gitea.requests.slice(-2).map((r) => r.status)).toEqual([405, 404]);
  });

  it('maps 409 to MergeConflictError and leaves main alone', async () => {
    await pushBranchWith('orch/KEY-5', 'README.md', 'branch\n');
    const { number } = await forge.openPullRequest({ branch: 'orch/KEY-5', ...pr });
    const clone = await cloneRemote(remote.path);
    const main = await commitFile(clone, 'README.md', 'main\n');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');

    await expect(forge.merge({ branch: 'orch/KEY-5', base: 'main', pr: number, message: 'm' })).rejects.toBeInstanceOf(
      MergeConflictError,
    );
    expect(lastRequest().status).toBe(409);
    expect(await branchSha(remote.path, 'main')).toBe(main);
  });

  it('deletes branches: 204, then 404 = absent, 403 = protected', async () => {
    await pushBranchWith('orch/KEY-6', 'w.txt', 'widget');
    await pushBranchWith('orch/frozen', 'f.txt', 'frozen');
    const policy = { defaultBranch: 'main', protectedBranches: [] };

    expect(await forge.deleteBranch({ branch: 'orch/KEY-6', ...policy })).toEqual({ deleted: true, absent: false });
    expect(lastRequest()).toMatchObject({ method: 'DELETE', url: '/api/v1/repos/acme/widgets/branches/orch%2FKEY-6', status: 204 });
    expect(await branchSha(remote.path, 'orch/KEY-6')).toBeNull();

    expect(await forge.deleteBranch({ branch: 'orch/KEY-6', ...policy })).toEqual({ deleted: false, absent: true });
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
    await pushBranchWith('orch/KEY-7', 'w.txt', 'widget');
    const intruder = createGiteaForge({ baseUrl: gitea.baseUrl, token: 'wrong', ...repoCoords });
    const err = await intruder.openPullRequest({ branch: 'orch/KEY-7', ...pr }).catch((e: unknown) => e);
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
