import { chmod, mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CleanClones, cloneFingerprint } from '../../activities/adapters/clone-fingerprint.js';
import { cloneRemote, createBareRemote, mkTmpDir, removeTmpDirs } from '../support/git-fixtures.js';

let clone: string;

beforeEach(async () => {
  const remote = await createBareRemote(path.join(await mkTmpDir(), 'remote.git'));
  clone = await cloneRemote(remote.path);
  await mkdir(path.join(clone, 'src', 'deep'), { recursive: true });
  await writeFile(path.join(clone, 'src', 'deep', 'a.ts'), 'export const a = 1;\n');
});
afterAll(removeTmpDirs);

describe('a clone fingerprint', () => {
  it('is the same while nothing changes', () => {
    const print = cloneFingerprint(clone);
    expect(print).toMatch(/^[0-9a-f]{64}$/);
    expect(cloneFingerprint(clone)).toBe(print);
  });

  it('changes with a file rewritten to the same size, even with its mtime put back', async () => {
    const file = path.join(clone, 'src', 'deep', 'a.ts');
    const then = new Date('2026-01-01T00:00:00Z');
    await utimes(file, then, then);
    const before = await stat(file, { bigint: true });
    const print = cloneFingerprint(clone);
    await writeFile(file, 'export const a = 2;\n');
    await utimes(file, then, then);
    const after = await stat(file, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
    expect(cloneFingerprint(clone)).not.toBe(print);
  });

  it('changes with a file added, removed or made executable, in the tree or in .git', async () => {
    for (const change of [
      () => writeFile(path.join(clone, 'src', 'deep', 'new.ts'), ''),
      () => rm(path.join(clone, 'src', 'deep', 'new.ts')),
      () => chmod(path.join(clone, 'README.md'), 0o755),
      () => writeFile(path.join(clone, '.git', 'info', 'exclude'), '*.log\n'),
    ]) {
      const print = cloneFingerprint(clone);
      await change();
      expect(cloneFingerprint(clone)).not.toBe(print);
    }
  });

  it('is null for a missing directory, and for a tree past the entry limit', () => {
    expect(cloneFingerprint(path.join(clone, 'nope'))).toBeNull();
    expect(cloneFingerprint(clone, 3)).toBeNull();
  });
});

describe('CleanClones', () => {
  it('tells a clone unchanged since it was seen clean at that commit, and nothing else', async () => {
    const clones = new CleanClones();
    expect(clones.unchanged(clone, 'sha-1')).toBe(false);
    await clones.remember(clone, 'sha-1');
    expect(clones.unchanged(clone, 'sha-1')).toBe(true);
    expect(clones.unchanged(clone, 'sha-2')).toBe(false);
    await writeFile(path.join(clone, 'stray.txt'), 'x');
    expect(clones.unchanged(clone, 'sha-1')).toBe(false);
    await clones.remember(clone, 'sha-1');
    clones.forget(clone);
    expect(clones.unchanged(clone, 'sha-1')).toBe(false);
  });
});
