// Real git fixtures for tests: temporary directories, bare "remotes" guarded by a pre-receive
// hook that rejects non-fast-forward updates and deletion of the default branch (made by
// worker/bare-remote.ts, which npm start and the bench use too), and small helpers to act as
// "somebody else" pushing to the remote.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createGuardedRemote, type GuardedRemote } from '../../worker/bare-remote.js';

const ENV = { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
const IDENTITY = ['-c', 'user.name=fixture', '-c', 'user.email=fixture@test.invalid', '-c', 'commit.gpgsign=false'];

const tmpDirs: string[] = [];

/** A fresh temporary directory, removed by `removeTmpDirs()`. */
export async function mkTmpDir(prefix = 'orch-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** Removes every directory `mkTmpDir()` made. Call it from `afterAll`/`afterEach`. */
export async function removeTmpDirs(): Promise<void> {
  const dirs = tmpDirs.splice(0);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/** Runs git in `cwd` and returns trimmed stdout; throws with stderr on failure. */
export async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  const res = await execa('git', args, { cwd, env: ENV, reject: false });
  if (res.exitCode !== 0) {
    throw new Error(`git ${args.join(' ')} (in ${cwd}) failed with ${res.exitCode}: ${res.stderr}`);
  }
  return res.stdout.trim();
}

/** Like `gitIn` but returns the exit code and output instead of throwing. */
export async function tryGitIn(cwd: string, ...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const res = await execa('git', args, { cwd, env: ENV, reject: false });
  return { exitCode: res.exitCode ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** A guarded bare remote (worker/bare-remote.ts): the pre-receive hook logs every ref update. */
export type BareRemote = GuardedRemote;

/**
 * A bare repository at `dir` with `defaultBranch` as HEAD, seeded with one commit (README.md)
 * unless `seed: false`, and the pre-receive hook that rejects non-fast-forward updates and
 * deletion of the default branch, explaining why on stderr.
 */
export function createBareRemote(dir: string, options: { defaultBranch?: string; seed?: boolean } = {}): Promise<BareRemote> {
  return createGuardedRemote(dir, { defaultBranch: options.defaultBranch, seed: options.seed === false ? false : undefined });
}

export { readHookLog, setPushDelay } from '../../worker/bare-remote.js';

/** A normal clone of `remote` in a new temp dir: "another developer". */
export async function cloneRemote(remote: string): Promise<string> {
  const dir = await mkTmpDir('orch-clone-');
  await gitIn(dir, 'clone', '--quiet', remote, '.');
  return dir;
}

/** Writes `file` in `repo`, commits it and returns the commit sha. */
export async function commitFile(repo: string, file: string, content: string, message = `edit ${file}`): Promise<string> {
  const full = path.join(repo, file);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, content);
  await gitIn(repo, 'add', '--', file);
  await gitIn(repo, ...IDENTITY, 'commit', '--quiet', '-m', message);
  return gitIn(repo, 'rev-parse', 'HEAD');
}

/** The sha of `refs/heads/<branch>` in the bare repo, or null. */
export async function branchSha(bareRepo: string, branch: string): Promise<string | null> {
  const res = await tryGitIn(bareRepo, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`);
  return res.exitCode === 0 ? res.stdout.trim() : null;
}

/** The content of `file` at `rev` in `repo`, or null when absent. */
export async function showFile(repo: string, rev: string, file: string): Promise<string | null> {
  const res = await tryGitIn(repo, 'show', `${rev}:${file}`);
  return res.exitCode === 0 ? res.stdout : null;
}
