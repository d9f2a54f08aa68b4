import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BranchProtectedError,
  InvalidBranchNameError,
  PushRejectedError,
  branchMatches,
  commitAll,
  copyArtefacts,
  deleteRemoteBranch,
  ensureMirror,
  ensureWorktree,
  listRemoteBranches,
  pushBranch,
  remoteHead,
  removeWorktree,
} from '../../activities/adapters/git.js';
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
  tryGitIn,
} from '../support/git-fixtures.js';

let remote: BareRemote;
let hostA: string;
let hostB: string;

beforeEach(async () => {
  remote = await createBareRemote(path.join(await mkTmpDir(), 'repo.git'));
  hostA = await mkTmpDir('orch-hostA-');
  hostB = await mkTmpDir('orch-hostB-');
});
afterEach(removeTmpDirs);

const exists = (p: string) => stat(p).then(() => true, () => false);

function worktreeInput(cacheDir: string, key: string) {
  return {
    cacheDir,
    remote: remote.path,
    defaultBranch: 'main',
    branch: `orch/${key}`,
    worktreePath: path.join(cacheDir, 'worktrees', key),
  };
}

describe('fixture: the bare remote', () => {
  it('rejects a force push and deletion of main, and logs why', async () => {
    const clone = await cloneRemote(remote.path);
    await gitIn(clone, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', 'commit', '--amend', '--quiet', '-m', 'rewritten');
    const forced = await tryGitIn(clone, 'push', '--force', 'origin', 'HEAD:refs/heads/main');
    expect(forced.exitCode).not.toBe(0);
    expect(forced.stderr).toContain('refusing non-fast-forward update of refs/heads/main');
    const deleted = await tryGitIn(clone, 'push', 'origin', '--delete', 'main');
    expect(deleted.exitCode).not.toBe(0);
    expect(deleted.stderr).toContain('refusing to delete refs/heads/main');
    const log = await readHookLog(remote);
    expect(log.filter((l) => l.startsWith('REJECT'))).toHaveLength(2);
  });
});

describe('ensureMirror', () => {
  it('creates one mirror even when called concurrently, then fetches and prunes', async () => {
    const paths = await Promise.all(Array.from({ length: 5 }, () => ensureMirror(hostA, remote.path)));
    expect(new Set(paths).size).toBe(1);
    const mirror = paths[0]!;
    expect(await gitIn(mirror, 'rev-parse', 'refs/remotes/origin/main')).toBe(await branchSha(remote.path, 'main'));
    expect((await readdir(hostA)).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const clone = await cloneRemote(remote.path);
    const sha = await commitFile(clone, 'x.txt', 'x');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/orch/temp');
    await ensureMirror(hostA, remote.path);
    expect(await gitIn(mirror, 'rev-parse', 'refs/remotes/origin/orch/temp')).toBe(sha);

    await gitIn(clone, 'push', '--quiet', 'origin', '--delete', 'orch/temp');
    await ensureMirror(hostA, remote.path);
    expect((await tryGitIn(mirror, 'rev-parse', '--verify', '--quiet', 'refs/remotes/origin/orch/temp')).exitCode).not.toBe(0);
  });
  it('serialises concurrent fetches of one mirror (unserialised, git fails to lock refs)', async () => {
    await ensureMirror(hostA, remote.path);
    const clone = await cloneRemote(remote.path);
    for (let round = 0; round < 4; round++) {
      await commitFile(clone, 'f.txt', `round ${round}`);
      const refspecs = Array.from({ length: 30 }, (_, i) => `HEAD:refs/heads/orch/b${i}`);
      await gitIn(clone, 'push', '--quiet', 'origin', ...refspecs);
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => ensureMirror(hostA, remote.path)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    }
  });
});

describe('ensureWorktree', () => {
  it('creates the worktree from the default branch, then reuses it', async () => {
    const input = worktreeInput(hostA, 'T1');
    const first = await ensureWorktree(input);
    expect(first).toMatchObject({ path: input.worktreePath, fromBranch: 'default', reused: false });
    expect(first.head).toBe(await branchSha(remote.path, 'main'));
    expect(await gitIn(first.path, 'symbolic-ref', '--short', 'HEAD')).toBe('orch/T1');
    expect(await exists(path.join(first.path, 'README.md'))).toBe(true);

    await writeFile(path.join(first.path, 'work.txt'), 'in progress');
    const again = await ensureWorktree(input);
    expect(again).toMatchObject({ path: input.worktreePath, head: first.head, reused: true });
    expect(await exists(path.join(first.path, 'work.txt'))).toBe(true);
  });

  it('starts from the pushed feature branch on a second host', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'T2'));
    await writeFile(path.join(a.path, 'feature.txt'), 'from host A\n');
    const sha = await commitAll(a.path, 'work on host A');
    await pushBranch(a.path, 'orch/T2');

    const b = await ensureWorktree(worktreeInput(hostB, 'T2'));
    expect(b).toMatchObject({ fromBranch: 'feature', head: sha, reused: false });
    expect(await gitIn(b.path, 'symbolic-ref', '--short', 'HEAD')).toBe('orch/T2');
    expect(await gitIn(b.path, 'show', 'HEAD:feature.txt')).toBe('from host A');
  });

  it('fast-forwards a reused clean worktree when another host pushed ahead', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'T3'));
    await commitFile(a.path, 'one.txt', '1');
    await pushBranch(a.path, 'orch/T3');
    const b = await ensureWorktree(worktreeInput(hostB, 'T3'));
    const ahead = await commitFile(b.path, 'two.txt', '2');
    await pushBranch(b.path, 'orch/T3');

    const back = await ensureWorktree(worktreeInput(hostA, 'T3'));
    expect(back).toMatchObject({ reused: true, head: ahead, fromBranch: 'feature' });
  });

  it('recovers from a deleted worktree directory and a stale local branch', async () => {
    const input = worktreeInput(hostA, 'T4');
    const first = await ensureWorktree(input);
    await commitFile(first.path, 'unpushed.txt', 'lost');
    await rm(first.path, { recursive: true, force: true });

    const again = await ensureWorktree(input);
    expect(again).toMatchObject({ reused: false, fromBranch: 'default' });
    expect(again.head).toBe(await branchSha(remote.path, 'main'));
  });

  it('replaces a leftover directory that is not a worktree, or one on another branch', async () => {
    const input = worktreeInput(hostA, 'T5');
    await mkdir(input.worktreePath, { recursive: true });
    await writeFile(path.join(input.worktreePath, 'junk'), 'junk');
    const created = await ensureWorktree(input);
    expect(created.reused).toBe(false);
    expect(await exists(path.join(input.worktreePath, 'junk'))).toBe(false);

    const other = await ensureWorktree({ ...input, branch: 'orch/T5-other' });
    expect(other.reused).toBe(false);
    expect(await gitIn(other.path, 'symbolic-ref', '--short', 'HEAD')).toBe('orch/T5-other');
  });

  it('rejects invalid branch names', async () => {
    await expect(ensureWorktree({ ...worktreeInput(hostA, 'T6'), branch: 'orch/bad..name' })).rejects.toBeInstanceOf(
      InvalidBranchNameError,
    );
    await expect(ensureWorktree({ ...worktreeInput(hostA, 'T6'), branch: '--force' })).rejects.toBeInstanceOf(
      InvalidBranchNameError,
    );
  });
});

describe('commitAll and pushBranch', () => {
  it('commits only when there are changes and pushes once', async () => {
    const wt = await ensureWorktree(worktreeInput(hostA, 'P1'));
    expect(await commitAll(wt.path, 'nothing')).toBeNull();

    await writeFile(path.join(wt.path, 'a.txt'), 'a');
    const sha = await commitAll(wt.path, 'add a');
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await gitIn(wt.path, 'log', '-1', '--format=%an <%ae>|%s')).toBe('orch <orch@orch.invalid>|add a');

    expect(await pushBranch(wt.path, 'orch/P1')).toEqual({ pushed: true, sha });
    expect(await remoteHead(remote.path, 'orch/P1')).toBe(sha);
    expect(await pushBranch(wt.path, 'orch/P1')).toEqual({ pushed: false, sha });
  });

  it('refuses a non-fast-forward push with a clear error and never forces', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'P2'));
    await commitFile(a.path, 'base.txt', 'base');
    await pushBranch(a.path, 'orch/P2');

    const b = await ensureWorktree(worktreeInput(hostB, 'P2'));
    const theirs = await commitFile(b.path, 'b.txt', 'from B');
    await pushBranch(b.path, 'orch/P2');

    await commitFile(a.path, 'a.txt', 'from A');
    const err = await pushBranch(a.path, 'orch/P2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushRejectedError);
    expect((err as PushRejectedError).reason).toBe('non-fast-forward');
    expect((err as Error).message).toMatch(/rejected.*refs\/heads\/orch\/P2|refs\/heads\/orch\/P2.*rejected/);
    expect((err as Error).message).toContain('never force-pushes');

    expect(await remoteHead(remote.path, 'orch/P2')).toBe(theirs);
    const log = await readHookLog(remote);
    expect(log.filter((l) => l.startsWith('REJECT'))).toEqual([]);
    expect(log.filter((l) => l.includes('refs/heads/orch/P2'))).toHaveLength(2);
  });
});

describe('removeWorktree', () => {
  it('removes the worktree and is idempotent', async () => {
    const input = worktreeInput(hostA, 'R1');
    const wt = await ensureWorktree(input);
    await writeFile(path.join(wt.path, 'dirty.txt'), 'untracked');

    expect(await removeWorktree(hostA, remote.path, wt.path)).toEqual({ removed: true });
    expect(await exists(wt.path)).toBe(false);
    const mirror = await ensureMirror(hostA, remote.path);
    expect(await gitIn(mirror, 'worktree', 'list', '--porcelain')).not.toContain(wt.path);
    expect(await removeWorktree(hostA, remote.path, wt.path)).toEqual({ removed: false });

    // A leftover directory that git does not know about is removed too.
    await mkdir(wt.path, { recursive: true });
    expect(await removeWorktree(hostA, remote.path, wt.path)).toEqual({ removed: true });
    expect(await exists(wt.path)).toBe(false);

    // And the branch can be checked out again afterwards.
    expect((await ensureWorktree(input)).reused).toBe(false);
  });

  it('succeeds when the mirror was never created', async () => {
    expect(await removeWorktree(hostB, remote.path, path.join(hostB, 'nothing'))).toEqual({ removed: false });
  });
});

describe('copyArtefacts', () => {
  it('copies the directory tree, returns relative paths, and is empty when absent', async () => {
    const wt = await ensureWorktree(worktreeInput(hostA, 'C1'));
    const src = path.join(wt.path, 'docs/tasks/C1');
    await mkdir(path.join(src, 'nested'), { recursive: true });
    await writeFile(path.join(src, 'plan.md'), 'plan');
    await writeFile(path.join(src, 'nested', 'log.txt'), 'log');
    const dest = path.join(await mkTmpDir(), 'artefacts');

    expect(await copyArtefacts(wt.path, 'docs/tasks/C1', dest)).toEqual(['nested/log.txt', 'plan.md']);
    expect(await exists(path.join(dest, 'nested', 'log.txt'))).toBe(true);
    expect(await copyArtefacts(wt.path, 'docs/tasks/missing', dest)).toEqual([]);
    await expect(copyArtefacts(wt.path, '../outside', dest)).rejects.toThrow(/subdirectory of the worktree/);
    await expect(copyArtefacts(wt.path, '.', dest)).rejects.toThrow(/subdirectory of the worktree/);
  });
});

describe('remote branches', () => {
  async function pushOrchBranch(name: string): Promise<string> {
    const clone = await cloneRemote(remote.path);
    const sha = await commitFile(clone, `${name.replace(/\//g, '_')}.txt`, name);
    await gitIn(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${name}`);
    return sha;
  }
  const policy = { defaultBranch: 'main', protectedBranches: ['release/*', 'orch/keep-*'] };

  it('lists branches by prefix and reads heads', async () => {
    const sha = await pushOrchBranch('orch/L1');
    await pushOrchBranch('orch/L2');
    await pushOrchBranch('feature/x');
    expect(await listRemoteBranches(remote.path)).toEqual(['orch/L1', 'orch/L2']);
    expect(await listRemoteBranches(remote.path, 'feature/')).toEqual(['feature/x']);
    expect(await remoteHead(remote.path, 'orch/L1')).toBe(sha);
    expect(await remoteHead(remote.path, 'L1')).toBeNull();
    expect(await remoteHead(remote.path, 'orch/none')).toBeNull();
  });

  it('deletes an orch branch; absent is success', async () => {
    await pushOrchBranch('orch/D1');
    expect(await deleteRemoteBranch({ remote: remote.path, branch: 'orch/D1', ...policy })).toEqual({
      deleted: true,
      absent: false,
    });
    expect(await remoteHead(remote.path, 'orch/D1')).toBeNull();
    expect(await deleteRemoteBranch({ remote: remote.path, branch: 'orch/D1', ...policy })).toEqual({
      deleted: false,
      absent: true,
    });
    expect(await readHookLog(remote)).toContainEqual(expect.stringMatching(/^ACCEPT delete refs\/heads\/orch\/D1 /));
  });

  it.each([
    ['main', 'default-branch'],
    ['release/1', 'protected'],
    ['orch/keep-this', 'protected'],
    ['feature/x', 'not-orch-branch'],
    ['orch/', 'not-orch-branch'],
  ] as const)('refuses to delete %s (%s)', async (branch, reason) => {
    if (branch !== 'orch/') await pushOrchBranch(branch === 'main' ? 'orch/unrelated' : branch);
    const err = await deleteRemoteBranch({ remote: remote.path, branch, ...policy }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BranchProtectedError);
    expect((err as BranchProtectedError).reason).toBe(reason);
    expect((err as Error).message).toContain(`refusing to delete branch "${branch}"`);
    expect(await branchSha(remote.path, 'main')).not.toBeNull();
    if (branch !== 'main' && branch !== 'orch/') expect(await remoteHead(remote.path, branch)).not.toBeNull();
  });

  it('matches protected patterns segment by segment', () => {
    expect(branchMatches('release/*', 'release/1')).toBe(true);
    expect(branchMatches('release/*', 'release/1/hotfix')).toBe(false);
    expect(branchMatches('release/**', 'release/1/hotfix')).toBe(true);
    expect(branchMatches('v?.x', 'v1.x')).toBe(true);
    expect(branchMatches('v?.x', 'v1-x')).toBe(false);
    expect(branchMatches('main', 'main')).toBe(true);
    expect(branchMatches('main', 'mainline')).toBe(false);
  });
});
