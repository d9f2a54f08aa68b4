// The pieces the Gitea and GitHub forges share: the wait-and-classify loop, and git's conflict probe.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGitConflictProbe } from '../../activities/adapters/forge/conflict-probe.js';
import { mergeUntilSettled, type MergeStep } from '../../activities/adapters/forge/merge-loop.js';
import { BranchMovedError, MergeConflictError, NotMergeableError } from '../../activities/adapters/forge/types.js';
import { branchSha, cloneRemote, commitFile, createBareRemote, gitIn, mkTmpDir, removeTmpDirs } from '../support/git-fixtures.js';

afterEach(() => removeTmpDirs());

const target = { branch: 'orch/K-1', base: 'main', pr: 7, headSha: 'abc' };
const fast = { timeoutMs: 200, initialDelayMs: 10, maxDelayMs: 20 };
const steps = (...list: MergeStep[]) => {
  let i = 0;
  return async () => list[Math.min(i++, list.length - 1)]!;
};

describe('mergeUntilSettled', () => {
  it('waits through "not yet" answers and returns what the forge finally says', async () => {
    const step = steps({ outcome: 'wait', reason: 'checking' }, { outcome: 'wait', reason: 'checking' }, { outcome: 'merged', sha: 's1' });
    expect(await mergeUntilSettled(target, step, fast)).toEqual({ merged: true, alreadyMerged: false, sha: 's1' });
    expect(await mergeUntilSettled(target, steps({ outcome: 'already-merged', sha: 's2' }), fast)).toEqual({ merged: false, alreadyMerged: true, sha: 's2' });
  });

  it('turns a conflict, a refusal and the bound into the errors the activity classifies', async () => {
    const conflict = await mergeUntilSettled(target, steps({ outcome: 'conflict', files: ['a.txt'], detail: 'x' }), fast).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(MergeConflictError);
    expect((conflict as Error).message).toBe('merging orch/K-1 into main conflicts in a.txt: x');

    const refused = await mergeUntilSettled(target, steps({ outcome: 'refused', reason: 'no permission' }), fast).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NotMergeableError);
    expect((refused as Error).message).toBe('cannot merge orch/K-1 into main (PR #7): no permission');

    const slow = await mergeUntilSettled(target, steps({ outcome: 'wait', reason: 'checking' }), fast).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(NotMergeableError);
    expect((slow as Error).message).toMatch(/checking; still so after 200 ms$/);

    const moved = await mergeUntilSettled(target, steps({ outcome: 'wait', reason: 'head differs', head: 'def' }), fast).catch((e: unknown) => e);
    expect(moved).toBeInstanceOf(BranchMovedError);
    expect(moved).toMatchObject({ expected: 'abc', actual: 'def' });
  });
});

describe('the git conflict probe', () => {
  it('answers [] for a clean merge, the files for a conflict, null for a commit it cannot find', async () => {
    const remote = await createBareRemote(path.join(await mkTmpDir(), 'r.git'));
    const clone = await cloneRemote(remote.path);
    await gitIn(clone, 'switch', '--quiet', '-c', 'orch/K-1');
    const clean = await commitFile(clone, 'new.txt', 'x\n');
    const clash = await commitFile(clone, 'README.md', 'branch\n');
    await gitIn(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/orch/K-1');
    const other = await cloneRemote(remote.path);
    await commitFile(other, 'README.md', 'main\n');
    await gitIn(other, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
    const main = (await branchSha(remote.path, 'main'))!;

    const probe = createGitConflictProbe({ cacheDir: await mkTmpDir('orch-mirrors-'), remote: remote.path });
    expect(await probe(main, clean)).toEqual([]);
    expect(await probe(main, clash)).toEqual(['README.md']);
    expect(await probe(main, '0'.repeat(40))).toBeNull();
  });
});
