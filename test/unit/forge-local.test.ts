import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MergeConflictError, NotMergeableError } from '../../activities/adapters/forge/types.js';
import { createLocalForge } from '../../activities/adapters/forge/local.js';
import { BranchProtectedError, PushRejectedError, ensureMirror } from '../../activities/adapters/git.js';
import {
  type BareRemote,
  branchSha,
  cloneRemote,
  commitFile,
  createBareRemote,
  gitIn,
  mkTmpDir,
  readHookLog,
  removeTmpDirs,
  showFile,
} from '../support/git-fixtures.js';

let remote: BareRemote;
let cacheDir: string;

beforeEach(async () => {
  remote = await createBareRemote(path.join(await mkTmpDir(), 'repo.git'));
  cacheDir = await mkTmpDir('orch-cache-');
});
afterEach(removeTmpDirs);

/** Pushes a branch with one commit writing `file`, as an agent on some host would. */
async function pushBranchWith(branch: string, file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  await gitIn(clone, 'switch', '--quiet', '-c', branch);
  const sha = await commitFile(clone, file, content, `work on ${branch}`);
  await gitIn(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

/** Someone else moves main. */
async function advanceMain(file: string, content: string): Promise<string> {
  const clone = await cloneRemote(remote.path);
  const sha = await commitFile(clone, file, content, `main: ${file}`);
  await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  return sha;
}

async function expectNoLeftoverMergeWorktrees(): Promise<void> {
  const merges = await readdir(path.join(cacheDir, 'merges')).catch(() => []);
  expect(merges).toEqual([]);
  const mirror = await ensureMirror(cacheDir, remote.path);
  const list = await gitIn(mirror, 'worktree', 'list', '--porcelain');
  expect(list.split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
}

describe('local forge', () => {
  it('has no pull requests', async () => {
    const forge = createLocalForge({ cacheDir, remote: remote.path });
    expect(await forge.openPullRequest({ branch: 'orch/A', base: 'main', title: 't', body: 'b' })).toEqual({
      number: null,
      url: null,
      existed: false,
    });
  });

  it('merges with a merge commit, then answers alreadyMerged', async () => {
    const forge = createLocalForge({ cacheDir, remote: remote.path });
    const work = await pushBranchWith('orch/A', 'a.txt', 'from A\n');
    const before = await branchSha(remote.path, 'main');

    const first = await forge.merge({ branch: 'orch/A', base: 'main', pr: null, message: 'Merge orch/A' });
    const after = await branchSha(remote.path, 'main');
    expect(first).toEqual({ merged: true, alreadyMerged: false, sha: after });
    expect(await showFile(remote.path, 'main', 'a.txt')).toBe('from A');
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P|%s|%an', 'main')).toBe(`${before} ${work}|Merge orch/A|orch`);

    const second = await forge.merge({ branch: 'orch/A', base: 'main', pr: null, message: 'Merge orch/A' });
    expect(second).toEqual({ merged: false, alreadyMerged: true, sha: after });
    expect(await branchSha(remote.path, 'main')).toBe(after);
    await expectNoLeftoverMergeWorktrees();
  });

  it('lands two concurrent merges from two hosts', async () => {
    await pushBranchWith('orch/B', 'b.txt', 'B');
    await pushBranchWith('orch/C', 'c.txt', 'C');
    const hostB = createLocalForge({ cacheDir, remote: remote.path });
    const hostC = createLocalForge({ cacheDir: await mkTmpDir('orch-cache2-'), remote: remote.path });

    const results = await Promise.all([
      hostB.merge({ branch: 'orch/B', base: 'main', pr: null, message: 'Merge orch/B' }),
      hostC.merge({ branch: 'orch/C', base: 'main', pr: null, message: 'Merge orch/C' }),
    ]);
    expect(results.map((r) => r.merged)).toEqual([true, true]);
    expect(await showFile(remote.path, 'main', 'b.txt')).toBe('B');
    expect(await showFile(remote.path, 'main', 'c.txt')).toBe('C');
    expect((await readHookLog(remote)).filter((l) => l.startsWith('REJECT'))).toEqual([]);
  });

  it('redoes the merge when main moves between merge and push', async () => {
    await pushBranchWith('orch/D', 'd.txt', 'D');
    const attempts: number[] = [];
    let moved = '';
    const forge = createLocalForge({
      cacheDir,
      remote: remote.path,
      beforePush: async (attempt) => {
        attempts.push(attempt);
        if (attempt === 1) moved = await advanceMain('other.txt', 'meanwhile');
      },
    });

    const result = await forge.merge({ branch: 'orch/D', base: 'main', pr: null, message: 'Merge orch/D' });
    expect(attempts).toEqual([1, 2]);
    expect(result.merged).toBe(true);
    expect(await gitIn(remote.path, 'log', '-1', '--format=%P', 'main')).toContain(moved);
    expect(await showFile(remote.path, 'main', 'd.txt')).toBe('D');
    expect(await showFile(remote.path, 'main', 'other.txt')).toBe('meanwhile');
    await expectNoLeftoverMergeWorktrees();
  });

  it('gives up after maxAttempts when main keeps moving', async () => {
    await pushBranchWith('orch/E', 'e.txt', 'E');
    const forge = createLocalForge({
      cacheDir,
      remote: remote.path,
      maxAttempts: 2,
      beforePush: async (attempt) => void (await advanceMain(`m${attempt}.txt`, 'x')),
    });
    const err = await forge.merge({ branch: 'orch/E', base: 'main', pr: null, message: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushRejectedError);
    expect((err as Error).message).toContain('gave up after 2 merge attempts');
    expect(await showFile(remote.path, 'main', 'e.txt')).toBeNull();
    await expectNoLeftoverMergeWorktrees();
  });

  it('reports a content conflict as MergeConflictError and leaves main alone', async () => {
    await pushBranchWith('orch/F', 'README.md', 'branch version\n');
    const main = await advanceMain('README.md', 'main version\n');
    const forge = createLocalForge({ cacheDir, remote: remote.path });

    const err = await forge.merge({ branch: 'orch/F', base: 'main', pr: null, message: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect((err as MergeConflictError).files).toEqual(['README.md']);
    expect(await branchSha(remote.path, 'main')).toBe(main);
    await expectNoLeftoverMergeWorktrees();
  });

  it('refuses to merge a branch the remote does not have', async () => {
    const forge = createLocalForge({ cacheDir, remote: remote.path });
    await expect(forge.merge({ branch: 'orch/none', base: 'main', pr: null, message: 'm' })).rejects.toBeInstanceOf(
      NotMergeableError,
    );
  });

  it('deletes branches under orch policy', async () => {
    await pushBranchWith('orch/G', 'g.txt', 'G');
    const forge = createLocalForge({ cacheDir, remote: remote.path });
    const policy = { defaultBranch: 'main', protectedBranches: [] };
    expect(await forge.deleteBranch({ branch: 'orch/G', ...policy })).toEqual({ deleted: true, absent: false });
    await expect(forge.deleteBranch({ branch: 'main', ...policy })).rejects.toBeInstanceOf(BranchProtectedError);
  });
});
