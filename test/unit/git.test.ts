import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
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
  isCleanCloneAt,
  listRemoteBranches,
  mirrorOrchBranches,
  mirrorPath,
  pushBranch,
  remoteHead,
  removeWorktree,
  secureClone,
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
    await pushBranch(a.path, 'orch/T2', remote.path);

    const b = await ensureWorktree(worktreeInput(hostB, 'T2'));
    expect(b).toMatchObject({ fromBranch: 'feature', head: sha, reused: false });
    expect(await gitIn(b.path, 'symbolic-ref', '--short', 'HEAD')).toBe('orch/T2');
    expect(await gitIn(b.path, 'show', 'HEAD:feature.txt')).toBe('from host A');
  });

  it('fast-forwards a reused clean worktree when another host pushed ahead', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'T3'));
    await commitFile(a.path, 'one.txt', '1');
    await pushBranch(a.path, 'orch/T3', remote.path);
    const b = await ensureWorktree(worktreeInput(hostB, 'T3'));
    const ahead = await commitFile(b.path, 'two.txt', '2');
    await pushBranch(b.path, 'orch/T3', remote.path);

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

    expect(await pushBranch(wt.path, 'orch/P1', remote.path)).toEqual({ pushed: true, sha });
    expect(await remoteHead(remote.path, 'orch/P1')).toBe(sha);
    expect(await pushBranch(wt.path, 'orch/P1', remote.path)).toEqual({ pushed: false, sha });
  });

  it('refuses a non-fast-forward push with a clear error and never forces', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'P2'));
    await commitFile(a.path, 'base.txt', 'base');
    await pushBranch(a.path, 'orch/P2', remote.path);

    const b = await ensureWorktree(worktreeInput(hostB, 'P2'));
    const theirs = await commitFile(b.path, 'b.txt', 'from B');
    await pushBranch(b.path, 'orch/P2', remote.path);

    await commitFile(a.path, 'a.txt', 'from A');
    const err = await pushBranch(a.path, 'orch/P2', remote.path).catch((e: unknown) => e);
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

describe('isCleanCloneAt', () => {
  it('is true only for orch\'s clone on the branch at that commit with nothing changed, untracked, ignored or hidden', async () => {
    const input = worktreeInput(hostA, 'C1');
    const wt = await ensureWorktree({ ...input, fresh: true });
    const mirror = mirrorPath(hostA, remote.path);
    await writeFile(path.join(wt.path, 'a.txt'), 'a');
    await writeFile(path.join(wt.path, '.gitignore'), 'build/\n');
    const sha = (await commitAll(wt.path, 'add a'))!;
    await pushBranch(wt.path, 'orch/C1', remote.path);
    const clean = () => isCleanCloneAt(wt.path, mirror, 'orch/C1', sha);
    expect(await clean()).toBe(true);
    expect(await isCleanCloneAt(wt.path, mirror, 'orch/C1', wt.head)).toBe(false);
    expect(await isCleanCloneAt(wt.path, mirror, 'orch/OTHER', sha)).toBe(false);
    expect(await isCleanCloneAt(path.join(hostA, 'worktrees', 'NONE'), mirror, 'orch/C1', sha)).toBe(false);

    for (const [dirty, undo] of [
      [() => writeFile(path.join(wt.path, 'a.txt'), 'changed'), () => gitIn(wt.path, 'checkout', '--', 'a.txt')],
      [() => writeFile(path.join(wt.path, 'new.txt'), 'x'), () => rm(path.join(wt.path, 'new.txt'))],
      [() => mkdir(path.join(wt.path, 'build')).then(() => writeFile(path.join(wt.path, 'build', 'out'), 'x')), () => rm(path.join(wt.path, 'build'), { recursive: true })],
      [() => gitIn(wt.path, 'update-index', '--assume-unchanged', 'a.txt'), () => gitIn(wt.path, 'update-index', '--no-assume-unchanged', 'a.txt')],
      [() => gitIn(wt.path, 'update-index', '--skip-worktree', 'a.txt'), () => gitIn(wt.path, 'update-index', '--no-skip-worktree', 'a.txt')],
    ] as const) {
      await dirty();
      expect(await clean()).toBe(false);
      await undo();
      expect(await clean()).toBe(true);
    }
    // A commit after the push: the clone is no longer at what was pushed.
    await writeFile(path.join(wt.path, 'b.txt'), 'b');
    await commitAll(wt.path, 'unpushed');
    expect(await clean()).toBe(false);
  });
});

describe('task clones', () => {
  it('borrow the mirror objects but own their refs: commits in a clone never reach the mirror or another clone', async () => {
    const a = await ensureWorktree(worktreeInput(hostA, 'I1'));
    const b = await ensureWorktree(worktreeInput(hostA, 'I2'));
    const mirror = mirrorPath(hostA, remote.path);
    expect((await readFile(path.join(a.path, '.git', 'objects', 'info', 'alternates'), 'utf8')).trim()).toBe(path.join(mirror, 'objects'));
    // No remote: the agent cannot learn the remote's URL (it may carry a token) or push to it.
    expect(await gitIn(a.path, 'remote')).toBe('');
    expect(await gitIn(a.path, 'rev-parse', 'origin/main')).toBe(await branchSha(remote.path, 'main'));

    const sha = await commitFile(a.path, 'mine.txt', 'a');
    expect(await gitIn(a.path, 'cat-file', '-t', sha)).toBe('commit');
    // The commit is the clone's own: neither the mirror nor the other clone has it or a ref to it.
    expect((await tryGitIn(mirror, 'cat-file', '-e', sha)).exitCode).not.toBe(0);
    expect((await tryGitIn(b.path, 'cat-file', '-e', sha)).exitCode).not.toBe(0);
    expect(await gitIn(mirror, 'for-each-ref', '--format=%(refname)', 'refs/heads')).toBe('');
    expect(await gitIn(b.path, 'for-each-ref', '--format=%(refname)')).not.toContain('I1');
  });

  it('are made orch\'s again before orch runs git there: planted hooks, config and commondir are gone', async () => {
    const wt = await ensureWorktree(worktreeInput(hostA, 'H1'));
    const mirror = mirrorPath(hostA, remote.path);
    const marker = path.join(hostA, 'pwned');
    const hook = `#!/bin/sh\ntouch ${marker}\n`;
    for (const name of ['pre-push', 'post-checkout', 'pre-commit', 'post-commit', 'reference-transaction']) {
      await writeFile(path.join(wt.path, '.git', 'hooks', name), hook);
      await chmod(path.join(wt.path, '.git', 'hooks', name), 0o755);
    }
    // A hook the agent points core.hooksPath at, an fsmonitor command, and a redirect of the push.
    await mkdir(path.join(wt.path, 'evil'), { recursive: true });
    await writeFile(path.join(wt.path, 'evil', 'pre-push'), hook);
    await chmod(path.join(wt.path, 'evil', 'pre-push'), 0o755);
    await writeFile(
      path.join(wt.path, '.git', 'config'),
      `[core]\n\thooksPath = ${path.join(wt.path, 'evil')}\n\tfsmonitor = touch ${marker}\n[url "${hostB}/x.git"]\n\tinsteadOf = ${remote.path}\n`,
    );
    // Without securing, even orch's hardened git already ignores hooks and fsmonitor:
    await writeFile(path.join(wt.path, 'x.txt'), 'x');
    await commitAll(wt.path, 'unsecured');
    expect(await exists(marker)).toBe(false);

    await writeFile(path.join(wt.path, '.git', 'commondir'), hostB);
    expect(await secureClone(wt.path, mirror)).toEqual({ ok: true });
    expect(await exists(path.join(wt.path, '.git', 'commondir'))).toBe(false);
    expect(await readdir(path.join(wt.path, '.git', 'hooks'))).toEqual([]);
    expect(await readFile(path.join(wt.path, '.git', 'config'), 'utf8')).not.toContain('insteadOf');
    await writeFile(path.join(wt.path, 'y.txt'), 'y');
    const sha = await commitAll(wt.path, 'secured');
    expect(await pushBranch(wt.path, 'orch/H1', remote.path)).toEqual({ pushed: true, sha });
    expect(await remoteHead(remote.path, 'orch/H1')).toBe(sha);
    expect(await exists(marker)).toBe(false);
    // A reused clone is secured too.
    await writeFile(path.join(wt.path, '.git', 'hooks', 'post-checkout'), hook);
    await chmod(path.join(wt.path, '.git', 'hooks', 'post-checkout'), 0o755);
    expect((await ensureWorktree({ ...worktreeInput(hostA, 'H1'), fresh: true })).reused).toBe(true);
    expect(await exists(marker)).toBe(false);
  });

  it('refuse a .git holding a symbolic link (orch would write through it), and are replaced', async () => {
    const wt = await ensureWorktree(worktreeInput(hostA, 'L1'));
    const mirror = mirrorPath(hostA, remote.path);
    const elsewhere = await mkTmpDir('orch-elsewhere-');
    await rm(path.join(wt.path, '.git', 'logs'), { recursive: true, force: true });
    await symlink(elsewhere, path.join(wt.path, '.git', 'logs'));
    expect(await secureClone(wt.path, mirror)).toEqual({ ok: false, reason: `${path.join(wt.path, '.git', 'logs')} is a symbolic link` });
    const again = await ensureWorktree({ ...worktreeInput(hostA, 'L1'), fresh: true });
    expect(again.reused).toBe(false);
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe('removeWorktree', () => {
  it('leaves the mirror no ref of the task\'s branch', async () => {
    const input = worktreeInput(hostA, 'M1');
    const wt = await ensureWorktree(input);
    await commitFile(wt.path, 'm.txt', 'm');
    await pushBranch(wt.path, 'orch/M1', remote.path);
    const mirror = await ensureMirror(hostA, remote.path);
    // An older orch's mirrors also kept a local branch per task.
    await gitIn(mirror, 'update-ref', 'refs/heads/orch/M1', 'refs/remotes/origin/orch/M1');
    expect(await mirrorOrchBranches(mirror)).toEqual(['orch/M1']);
    await removeWorktree(hostA, remote.path, wt.path, 'orch/M1');
    expect(await mirrorOrchBranches(mirror)).toEqual([]);
    expect(await gitIn(mirror, 'for-each-ref', '--format=%(refname)')).not.toContain('orch/M1');
  });

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
  it('copies nothing through a symbolic link on the way', async () => {
    const wt = await ensureWorktree(worktreeInput(hostA, 'C2'));
    const secret = await mkTmpDir('orch-secret-');
    await writeFile(path.join(secret, 'token'), 'hunter2');
    await mkdir(path.join(wt.path, 'docs'), { recursive: true });
    await symlink(secret, path.join(wt.path, 'docs', 'tasks'));
    const dest = path.join(hostA, 'artefacts', 'C2');
    expect(await copyArtefacts(wt.path, 'docs/tasks/C2', dest)).toEqual([]);
    expect(await copyArtefacts(wt.path, 'docs/tasks', dest)).toEqual([]);
    expect(await exists(dest)).toBe(false);
  });

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
