// Git operations for orch: a per-host mirror of each remote, one clone per task (its "worktree"),
// commits, plain pushes and branch clean-up. Plain async functions; the Temporal activities that
// use them live in activities/host and activities/forge.ts.
//
// Rules this module keeps:
// - every git call goes through `git()` below: an argv array, never a shell string, with hooks
//   and fsmonitor off (an agent can write its clone's .git; nothing there runs as orch);
// - nothing is ever force-pushed: no `--force`, no `+refspec`, no `--force-with-lease`;
// - orch only deletes remote branches it owns (`orch/…`), never the default or a protected one;
// - a task's clone borrows the mirror's objects (alternates) but has its own refs and config and
//   no remote: the agent commits there, and cannot touch the mirror, other tasks or the remote.

import { execa } from 'execa';
import { createHash, randomUUID } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import picomatch from 'picomatch';
import { FEATURE_BRANCH_PREFIX } from '../../workflows/contracts/index.js';

/** The prefix of every branch orch creates; the only branches it will ever delete. */
const ORCH_BRANCH_PREFIX = FEATURE_BRANCH_PREFIX;

/** `-c` options that give orch's own commits a fixed identity and no signing prompt. */
export const COMMIT_IDENTITY: readonly string[] = [
  '-c', 'user.name=orch',
  '-c', 'user.email=orch@orch.invalid',
  '-c', 'commit.gpgsign=false',
];

const GIT_ENV: Readonly<Record<string, string>> = {
  // Never wait for credentials on a terminal: fail instead.
  GIT_TERMINAL_PROMPT: '0',
  // Stable, English messages: push results are parsed.
  LC_ALL: 'C',
  // Command-line level config, above anything in a repository: no hook and no fsmonitor command an
  // agent planted in its clone runs as orch. git clears these for a local remote's receive-pack,
  // so the remote's own hooks still run.
  GIT_CONFIG_COUNT: '2',
  GIT_CONFIG_KEY_0: 'core.hooksPath',
  GIT_CONFIG_VALUE_0: '/dev/null',
  GIT_CONFIG_KEY_1: 'core.fsmonitor',
  GIT_CONFIG_VALUE_1: 'false',
};

// ---------------------------------------------------------------------------------------------
// Errors

/** A git command exited with an unexpected status. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly cwd: string | undefined,
  ) {
    const detail = stderr.trim() || '(no output)';
    super(redact(`git ${args.join(' ')} failed (exit ${exitCode ?? 'none'}): ${detail}`));
  }
}

/** The remote refused a push. orch never retries a rejected push with force. */
export class PushRejectedError extends Error {
  override readonly name = 'PushRejectedError';
  constructor(
    readonly ref: string,
    /** `non-fast-forward`: the remote has commits we lack; `remote-rejected`: a hook or policy said no. */
    readonly reason: 'non-fast-forward' | 'remote-rejected',
    readonly detail: string,
  ) {
    super(
      reason === 'non-fast-forward'
        ? `push to ${ref} rejected: the remote branch has commits this worktree does not have ` +
            `(${detail}). orch never force-pushes; integrate the remote branch first.`
        : `push to ${ref} rejected by the remote: ${detail}`,
    );
  }
}

export type BranchProtectionReason = 'default-branch' | 'protected' | 'not-orch-branch' | 'forge-refused';

/** orch refused (or the forge refused) to delete a branch it must not delete. */
export class BranchProtectedError extends Error {
  override readonly name = 'BranchProtectedError';
  constructor(
    readonly branch: string,
    readonly reason: BranchProtectionReason,
    /** The protected pattern that matched, for `reason: 'protected'`. */
    readonly pattern?: string,
  ) {
    super(`refusing to delete branch "${branch}": ${describeProtection(reason, pattern)}`);
  }
}

function describeProtection(reason: BranchProtectionReason, pattern: string | undefined): string {
  switch (reason) {
    case 'default-branch':
      return 'it is the repository default branch';
    case 'protected':
      return `it matches the protected branch pattern "${pattern ?? ''}"`;
    case 'not-orch-branch':
      return `orch only deletes its own branches (${ORCH_BRANCH_PREFIX}…)`;
    case 'forge-refused':
      return 'the forge reports it as the default or a protected branch';
  }
}

/** Not a valid git branch name (`git check-ref-format`). */
export class InvalidBranchNameError extends Error {
  override readonly name = 'InvalidBranchNameError';
  constructor(readonly branch: string) {
    super(`invalid branch name: ${JSON.stringify(branch)}`);
  }
}

/** The worktree cannot be created because another worktree holds the branch, or a ref is missing. */
export class WorktreeError extends Error {
  override readonly name = 'WorktreeError';
}

// ---------------------------------------------------------------------------------------------
// Running git

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface GitOptions {
  cwd?: string;
  /** Exit codes that are answers, not failures. Default `[0]`. */
  okExitCodes?: readonly number[];
}

/** Runs `git <args>`; throws `GitError` unless the exit code is one of `okExitCodes`. */
export async function git(args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  const { cwd, okExitCodes = [0] } = options;
  const result = await execa('git', args, { cwd, env: GIT_ENV, reject: false, stdin: 'ignore' });
  const exitCode = result.exitCode ?? null;
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (exitCode === null || !okExitCodes.includes(exitCode)) {
    throw new GitError(args, exitCode, stderr || result.shortMessage || '', cwd);
  }
  return { stdout, stderr, exitCode };
}

async function revParse(cwd: string, rev: string): Promise<string> {
  return (await git(['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`], { cwd })).stdout.trim();
}

/** Whether `ref` (a full ref name) exists in the repository at `cwd`. */
export async function refExists(cwd: string, ref: string): Promise<boolean> {
  const res = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], {
    cwd,
    okExitCodes: [0, 1],
  });
  return res.exitCode === 0;
}

/** Whether commit `ancestor` is reachable from `descendant`. */
export async function isAncestor(cwd: string, ancestor: string, descendant: string): Promise<boolean> {
  const res = await git(['merge-base', '--is-ancestor', ancestor, descendant], { cwd, okExitCodes: [0, 1] });
  return res.exitCode === 0;
}

/** Throws `InvalidBranchNameError` unless `branch` is a valid branch name. */
export async function assertBranchName(branch: string): Promise<void> {
  if (branch === '' || branch.startsWith('-')) throw new InvalidBranchNameError(branch);
  const res = await git(['check-ref-format', `refs/heads/${branch}`], { okExitCodes: [0, 1] });
  if (res.exitCode !== 0) throw new InvalidBranchNameError(branch);
}

/** Hides credentials embedded in URLs (`https://user:token@host`). */
function redact(text: string): string {
  return text.replace(/(\/\/)[^/@\s]+@/g, '$1***@');
}

// ---------------------------------------------------------------------------------------------
// In-process serialisation per repository

const lockChains = new Map<string, Promise<void>>();

/** Runs `fn` after every earlier call for the same key has finished (in this process). */
async function withPathLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = lockChains.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  lockChains.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (lockChains.get(key) === tail) lockChains.delete(key);
  }
}

/** Serialises work on one repository (keyed by its real path, so aliases share a lock). */
export async function withRepoLock<T>(repoDir: string, fn: () => Promise<T>): Promise<T> {
  const resolved = path.resolve(repoDir);
  const key = path.join(await canonical(path.dirname(resolved)), path.basename(resolved));
  return withPathLock(key, fn);
}

// ---------------------------------------------------------------------------------------------
// Mirror

/** A path to a local repository is made absolute; URLs and `host:path` forms are kept. */
function normaliseRemote(remote: string): string {
  const looksLikeUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(remote) || /^[^/]+:/.test(remote);
  return looksLikeUrl ? remote : path.resolve(remote);
}

/** Where the mirror of `remote` lives under `cacheDir`: a readable name plus a hash of the URL. */
export function mirrorPath(cacheDir: string, remote: string): string {
  const url = normaliseRemote(remote);
  const tail = url.replace(/\/+$/, '').replace(/\.git$/, '').split(/[/:]/).pop() ?? 'repo';
  const readable = tail.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'repo';
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 12);
  return path.resolve(cacheDir, `${readable}-${hash}.git`);
}

/**
 * Makes sure `cacheDir` holds an up-to-date bare mirror of `remote` (remote-tracking refs under
 * `refs/remotes/origin/*`, worktrees hang off it) and returns its path. Creates it when missing,
 * otherwise `git fetch --prune origin`. Concurrent calls for one repo are serialised.
 */
export async function ensureMirror(cacheDir: string, remote: string): Promise<string> {
  const url = normaliseRemote(remote);
  const dir = mirrorPath(cacheDir, url);
  await withRepoLock(dir, async () => {
    if (await isDirectory(dir)) await fetchOrigin(dir);
    else await createMirror(dir, url);
  });
  return dir;
}

/** `git fetch --prune origin` in an existing mirror, serialised with other work on it. */
export async function fetchMirror(mirrorDir: string): Promise<void> {
  await withRepoLock(mirrorDir, () => fetchOrigin(mirrorDir));
}

async function fetchOrigin(mirrorDir: string): Promise<void> {
  await git(['fetch', '--prune', '--quiet', 'origin'], { cwd: mirrorDir });
}

/** Builds the mirror next to its final path and renames it into place, so a crash leaves no half-mirror. */
async function createMirror(dir: string, url: string): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const staging = `${dir}.tmp-${randomUUID()}`;
  try {
    await git(['init', '--bare', '--quiet', staging]);
    // `remote add` configures git's standard remote-tracking fetch refspec for origin.
    await git(['remote', 'add', 'origin', url], { cwd: staging });
    await fetchOrigin(staging);
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    // Another process won the race: use its mirror.
    if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) return fetchOrigin(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Task clones (the task's "worktree")

export interface EnsureWorktreeInput {
  cacheDir: string;
  remote: string;
  defaultBranch: string;
  /** The task's feature branch, e.g. `orch/KEY`. */
  branch: string;
  worktreePath: string;
  /**
   * Start from the remote's state: a reused clone is reset to `origin/<branch>` (or the default
   * branch) and cleaned, dropping what an earlier, unfinished attempt left in it.
   */
  fresh?: boolean;
}

export interface WorktreeInfo {
  path: string;
  /** The commit checked out. */
  head: string;
  /** `feature` when the remote already had the branch (the task ran elsewhere before). */
  fromBranch: 'feature' | 'default';
  /** True when an existing clone on `branch` was kept. */
  reused: boolean;
}

/**
 * The config of every task clone, rewritten by orch before it uses the clone: no remote (orch
 * pushes to the remote's URL itself, so the agent never learns it), no include, hook or filter of
 * the agent's, and an identity so agents can commit with a private HOME.
 */
const CLONE_CONFIG = `[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = true
[user]
\tname = orch agent
\temail = agent@orch.invalid
`;

/**
 * Idempotently provides the task's clone on `branch` at `worktreePath`: a repository of its own
 * whose objects are borrowed from the host's mirror (read-only inside the sandbox) and whose refs
 * are only `<branch>` and the remote's default and feature branch (`refs/remotes/origin/…`). An
 * existing clone on that branch is reused (fast-forwarded when the remote branch moved ahead and
 * it is clean); otherwise it is (re)created from `origin/<branch>` when the remote has the branch,
 * else from `origin/<defaultBranch>`.
 */
export async function ensureWorktree(input: EnsureWorktreeInput): Promise<WorktreeInfo> {
  const { cacheDir, remote, defaultBranch, branch } = input;
  await assertBranchName(branch);
  await assertBranchName(defaultBranch);
  const mirror = await ensureMirror(cacheDir, remote);
  const wt = path.resolve(input.worktreePath);
  assertNotMirror(wt, mirror);

  return withRepoLock(mirror, async () => {
    const featureRef = `refs/remotes/origin/${branch}`;
    const defaultRef = `refs/remotes/origin/${defaultBranch}`;
    const hasFeature = await refExists(mirror, featureRef);
    const fromBranch = hasFeature ? 'feature' : 'default';
    const start = hasFeature ? featureRef : defaultRef;
    if (!hasFeature && !(await refExists(mirror, start))) {
      throw new WorktreeError(`the remote has no branch ${defaultBranch} to start ${branch} from`);
    }

    const existing = await inspectClone(wt, mirror);
    if (existing?.branch === branch) {
      await copyRemoteRefs(mirror, wt, [defaultRef, featureRef]);
      if (input.fresh) {
        await git(['reset', '--quiet', '--hard', start], { cwd: wt });
        await git(['clean', '-ffdxq'], { cwd: wt });
        return { path: wt, head: await revParse(wt, 'HEAD'), fromBranch, reused: true };
      }
      const head = hasFeature ? await fastForwardIfBehind(wt, existing.head, featureRef) : existing.head;
      return { path: wt, head, fromBranch, reused: true };
    }

    // Whatever is there (wrong branch, broken clone, a worktree of the mirror from an older orch,
    // a leftover directory) is replaced.
    if (await pathExists(wt)) await dropWorktreeLocked(mirror, wt);
    await mkdir(path.dirname(wt), { recursive: true });
    // No template: no sample hooks, nothing but what git needs.
    await git(['init', '--quiet', '--template=', wt]);
    const secured = await secureClone(wt, mirror);
    if (!secured.ok) throw new WorktreeError(`cannot set up the clone at ${wt}: ${secured.reason}`);
    await copyRemoteRefs(mirror, wt, [defaultRef, featureRef]);
    // --no-track keeps pushes explicit (and the clone has no remote to track anyway).
    await git(['checkout', '--quiet', '--no-track', '-B', branch, start], { cwd: wt });
    return { path: wt, head: await revParse(wt, 'HEAD'), fromBranch, reused: false };
  });
}

/**
 * Makes the clone at `wt` orch's again, whatever ran in it: its config, the mirror it borrows
 * objects from and an empty hooks directory are rewritten, and what could make git read another
 * repository (`commondir`, `config.worktree`) is removed. Refuses (`ok: false`) a `.git` that is not
 * a plain directory or holds a symbolic link anywhere: git would write through it as orch. Call it
 * before any git command of orch's in a clone an agent or a gate has run in.
 */
export async function secureClone(wt: string, mirror: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  // A few dozen tiny metadata calls on a local directory, done synchronously (a few ms in all):
  // awaited one by one, each waited its turn on a busy worker's event loop, which made this 10–30 ms
  // on the way to the next agent.
  const gitDir = path.join(path.resolve(wt), '.git');
  const top = lstatOrNullSync(gitDir);
  if (!top?.isDirectory()) return { ok: false, reason: `${gitDir} is not a directory` };
  const link = readdirSync(gitDir, { withFileTypes: true, recursive: true }).find((e) => e.isSymbolicLink());
  if (link) return { ok: false, reason: `${path.join(link.parentPath, link.name)} is a symbolic link` };
  const objects = path.join(gitDir, 'objects');
  if (!lstatOrNullSync(objects)?.isDirectory()) return { ok: false, reason: `${objects} is not a directory` };
  mkdirSync(path.join(objects, 'info'), { recursive: true });
  rmSync(path.join(gitDir, 'hooks'), { recursive: true, force: true });
  mkdirSync(path.join(gitDir, 'hooks'));
  for (const stray of ['commondir', 'config.worktree', 'gitdir']) rmSync(path.join(gitDir, stray), { recursive: true, force: true });
  replaceFileSync(path.join(gitDir, 'config'), CLONE_CONFIG);
  replaceFileSync(path.join(objects, 'info', 'alternates'), `${path.join(path.resolve(mirror), 'objects')}\n`);
  return { ok: true };
}

/** Unlinks, then creates: never writes through whatever stood at `file`. */
function replaceFileSync(file: string, content: string): void {
  rmSync(file, { recursive: true, force: true });
  writeFileSync(file, content, { flag: 'wx' });
}

/** Sets the clone's copies of the mirror's `refs` (deleting those the mirror lacks). The objects are borrowed: nothing is copied. */
async function copyRemoteRefs(mirror: string, wt: string, refs: readonly string[]): Promise<void> {
  const { stdout } = await git(['for-each-ref', '--format=%(objectname) %(refname)', ...refs], { cwd: mirror });
  const have = new Map(stdout.split('\n').filter(Boolean).map((l) => [l.slice(l.indexOf(' ') + 1), l.slice(0, l.indexOf(' '))]));
  const cur = await git(['for-each-ref', '--format=%(refname)', ...refs], { cwd: wt });
  const stale = cur.stdout.split('\n').filter((r) => r && !have.has(r));
  const lines = [...[...have].map(([ref, sha]) => `update ${ref} ${sha}`), ...stale.map((ref) => `delete ${ref}`)];
  if (lines.length) await gitWithInput(['update-ref', '--stdin'], `${lines.join('\n')}\n`, wt);
}

async function gitWithInput(args: readonly string[], input: string, cwd: string): Promise<void> {
  const result = await execa('git', args, { cwd, env: GIT_ENV, reject: false, input });
  if (result.exitCode !== 0) throw new GitError(args, result.exitCode ?? null, String(result.stderr ?? ''), cwd);
}

async function fastForwardIfBehind(wt: string, head: string, upstream: string): Promise<string> {
  const upstreamSha = await revParse(wt, upstream);
  if (upstreamSha === head || !(await isAncestor(wt, head, upstreamSha))) return head;
  const status = await git(['status', '--porcelain'], { cwd: wt });
  if (status.stdout.trim() !== '') return head;
  await git(['merge', '--ff-only', '--quiet', upstreamSha], { cwd: wt });
  return upstreamSha;
}

interface WorktreeEntry {
  path: string;
  branch: string | null;
}

async function listWorktrees(mirror: string): Promise<WorktreeEntry[]> {
  const { stdout } = await git(['worktree', 'list', '--porcelain'], { cwd: mirror });
  const entries: WorktreeEntry[] = [];
  for (const block of stdout.split(/\n\n+/)) {
    const lines = block.split('\n');
    const wtLine = lines.find((l) => l.startsWith('worktree '));
    if (!wtLine) continue;
    const branchLine = lines.find((l) => l.startsWith('branch refs/heads/'));
    entries.push({
      path: wtLine.slice('worktree '.length),
      branch: branchLine ? branchLine.slice('branch refs/heads/'.length) : null,
    });
  }
  return entries;
}

/** The branch and head of `wt` when it is a working clone borrowing from `mirror` (secured first); null otherwise. */
async function inspectClone(wt: string, mirror: string): Promise<{ branch: string | null; head: string } | null> {
  if (!(await isDirectory(wt))) return null;
  if (!(await secureClone(wt, mirror)).ok) return null;
  const probe = await git(['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-dir'], { cwd: wt, okExitCodes: [0, 128] });
  if (probe.exitCode !== 0) return null;
  const [toplevel, gitDir] = probe.stdout.trim().split('\n');
  if (!toplevel || !gitDir) return null;
  if ((await canonical(toplevel)) !== (await canonical(wt))) return null;
  if ((await canonical(gitDir)) !== (await canonical(path.join(wt, '.git')))) return null;
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: wt, okExitCodes: [0, 1] });
  if (head.exitCode !== 0) return null;
  const sym = await git(['symbolic-ref', '--quiet', 'HEAD'], { cwd: wt, okExitCodes: [0, 1] });
  const ref = sym.stdout.trim();
  return {
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null,
    head: head.stdout.trim(),
  };
}

/**
 * True when the clone at `wt` is orch's, on `branch` at `sha`, with nothing changed, staged,
 * untracked, ignored or hidden from status (assume-unchanged, skip-worktree) in it: what a fresh
 * preparation at `sha` would give, so it can be used as it is. Two git processes, no fetch.
 */
export async function isCleanCloneAt(wt: string, mirror: string, branch: string, sha: string): Promise<boolean> {
  if (!(await isDirectory(wt))) return false;
  if (!(await secureClone(wt, mirror)).ok) return false;
  return gitShowsCleanAt(wt, branch, sha);
}

/** isCleanCloneAt's git half, for a clone orch has just made its own (secureClone) and run git in. */
export async function gitShowsCleanAt(wt: string, branch: string, sha: string): Promise<boolean> {
  const [status, files] = await Promise.all([
    git(['status', '--porcelain=v2', '--branch', '--untracked-files=all', '--ignored=matching'], { cwd: wt, okExitCodes: [0, 128] }),
    git(['ls-files', '-v'], { cwd: wt, okExitCodes: [0, 128] }),
  ]);
  if (status.exitCode !== 0 || files.exitCode !== 0) return false;
  const lines = status.stdout.split('\n').filter(Boolean);
  const header = (name: string) => lines.find((l) => l.startsWith(`# branch.${name} `))?.slice(`# branch.${name} `.length);
  // `ls-files -v` tags a normal entry `H`; lowercase (assume-unchanged) and `S` (skip-worktree) hide changes.
  const hidden = files.stdout.split('\n').some((l) => l !== '' && !l.startsWith('H '));
  return header('oid') === sha && header('head') === branch && lines.every((l) => l.startsWith('# ')) && !hidden;
}

/** Adds a worktree of the mirror with a detached HEAD at `startRef` (orch's own throwaway work, such as merges). */
export async function addDetachedWorktree(mirror: string, wt: string, startRef: string): Promise<void> {
  assertNotMirror(path.resolve(wt), mirror);
  await mkdir(path.dirname(wt), { recursive: true });
  await withRepoLock(mirror, () =>
    git(['worktree', 'add', '--quiet', '--detach', path.resolve(wt), startRef], { cwd: mirror }),
  );
}

/**
 * Removes the clone (or mirror worktree) at `wt`: its directory, and its registration in `mirror`
 * when it is a worktree of it. True when anything was there.
 */
export async function dropWorktree(mirror: string, wt: string): Promise<boolean> {
  const target = path.resolve(wt);
  assertNotMirror(target, mirror);
  let removed = false;
  if (await isDirectory(mirror)) removed = await withRepoLock(mirror, () => dropWorktreeLocked(mirror, target));
  if (await pathExists(target)) {
    await rm(target, { recursive: true, force: true });
    removed = true;
  }
  return removed;
}

/** dropWorktree's body, for callers that hold the mirror's lock. */
async function dropWorktreeLocked(mirror: string, target: string): Promise<boolean> {
  let removed = false;
  const wanted = await canonical(target);
  const entries = await listWorktrees(mirror);
  const registered = await someAsync(entries, async (e) => (await canonical(e.path)) === wanted);
  if (registered) {
    await git(['worktree', 'remove', '--force', target], { cwd: mirror, okExitCodes: [0, 128] });
    removed = true;
  }
  if (await pathExists(target)) {
    // fs.rm never follows a symbolic link an agent left: it removes the link.
    await rm(target, { recursive: true, force: true });
    removed = true;
  }
  await git(['worktree', 'prune'], { cwd: mirror });
  return removed;
}

/**
 * Removes the task's clone and, with `branch`, every ref the host's mirror keeps of it (a local
 * branch an older orch made, the remote-tracking one): after a task, the host keeps nothing of it
 * but artefacts and logs. An absent clone is success; so is a leftover directory, which is removed.
 */
export async function removeWorktree(
  cacheDir: string,
  remote: string,
  worktreePath: string,
  branch?: string,
): Promise<{ removed: boolean }> {
  const mirror = mirrorPath(cacheDir, remote);
  const removed = await dropWorktree(mirror, worktreePath);
  if (branch !== undefined) await dropMirrorRefs(mirror, branch);
  return { removed };
}

/** Deletes `refs/heads/<branch>` and `refs/remotes/origin/<branch>` from `mirror` (orch's branches only); returns those deleted. */
export async function dropMirrorRefs(mirror: string, branch: string): Promise<string[]> {
  if (!branch.startsWith(ORCH_BRANCH_PREFIX) || branch.length === ORCH_BRANCH_PREFIX.length) {
    throw new BranchProtectedError(branch, 'not-orch-branch');
  }
  await assertBranchName(branch);
  if (!(await isDirectory(mirror))) return [];
  return withRepoLock(mirror, async () => {
    const wanted = [`refs/heads/${branch}`, `refs/remotes/origin/${branch}`];
    const { stdout } = await git(['for-each-ref', '--format=%(refname)', ...wanted], { cwd: mirror });
    const present = stdout.split('\n').filter((r) => wanted.includes(r));
    if (present.length) await gitWithInput(['update-ref', '--stdin'], present.map((r) => `delete ${r}\n`).join(''), mirror);
    return present;
  });
}

/** The `orch/…` branches `mirror` keeps refs of (local or remote-tracking), sorted. */
export async function mirrorOrchBranches(mirror: string): Promise<string[]> {
  if (!(await isDirectory(mirror))) return [];
  const prefixes = [`refs/heads/${ORCH_BRANCH_PREFIX}`, `refs/remotes/origin/${ORCH_BRANCH_PREFIX}`];
  const { stdout } = await git(['for-each-ref', '--format=%(refname)', ...prefixes], { cwd: mirror });
  const names = stdout
    .split('\n')
    .filter(Boolean)
    .map((r) => (r.startsWith('refs/heads/') ? r.slice('refs/heads/'.length) : r.slice('refs/remotes/origin/'.length)));
  return [...new Set(names)].sort();
}

function assertNotMirror(wt: string, mirror: string): void {
  const rel = path.relative(wt, mirror);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
    throw new WorktreeError(`worktree path ${wt} would contain the mirror ${mirror}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Commit and push

/** `git add -A` + commit. Returns the new commit, or null when there was nothing to commit. */
export async function commitAll(worktreePath: string, message: string): Promise<string | null> {
  if (message.trim() === '') throw new TypeError('commit message must not be empty');
  await git(['add', '--all'], { cwd: worktreePath });
  const staged = await git(['diff', '--cached', '--quiet'], { cwd: worktreePath, okExitCodes: [0, 1] });
  if (staged.exitCode === 0) return null;
  await git([...COMMIT_IDENTITY, 'commit', '--quiet', '--no-verify', '-m', message], { cwd: worktreePath });
  return revParse(worktreePath, 'HEAD');
}

/**
 * Pushes HEAD to `refs/heads/<branch>` on `remote` (a URL or path; `origin` for a worktree of the
 * mirror): a plain push, never forced. Task clones have no remote, so orch names it. A no-op when
 * the remote already has that commit. A rejection throws `PushRejectedError`.
 */
export async function pushBranch(
  worktreePath: string,
  branch: string,
  remote: string = 'origin',
): Promise<{ pushed: boolean; sha: string }> {
  await assertBranchName(branch);
  const target = remote === 'origin' ? remote : normaliseRemote(remote);
  const sha = await revParse(worktreePath, 'HEAD');
  const ref = `refs/heads/${branch}`;
  if ((await lsRemoteHead(worktreePath, target, branch)) === sha) return { pushed: false, sha };

  const repo = await commonDir(worktreePath);
  const res = await withRepoLock(repo, () =>
    git(['push', '--porcelain', target, `HEAD:${ref}`], { cwd: worktreePath, okExitCodes: [0, 1] }),
  );
  const outcome = parsePushOutcome(res, ref);
  if (outcome.kind === 'rejected') throw new PushRejectedError(ref, outcome.reason, outcome.detail);
  return { pushed: outcome.kind === 'updated', sha };
}

type PushOutcome =
  | { kind: 'updated' | 'up-to-date' }
  | { kind: 'rejected'; reason: 'non-fast-forward' | 'remote-rejected'; detail: string };

/** Reads `git push --porcelain` output: `<flag>\t<from>:<to>\t<summary>` per ref. */
function parsePushOutcome(res: GitResult, ref: string): PushOutcome {
  const line = res.stdout
    .split('\n')
    .find((l) => /^[ +\-*!=]\t/.test(l) && (l.split('\t')[1] ?? '').endsWith(`:${ref}`));
  if (!line) {
    if (res.exitCode === 0) return { kind: 'updated' };
    throw new GitError(['push', 'origin', ref], res.exitCode, res.stderr || res.stdout, undefined);
  }
  const flag = line[0];
  const summary = line.split('\t')[2] ?? '';
  if (flag === '=') return { kind: 'up-to-date' };
  if (flag !== '!') return { kind: 'updated' };
  const stderrDetail = res.stderr.trim();
  if (!summary.startsWith('[remote rejected]')) return { kind: 'rejected', reason: 'non-fast-forward', detail: summary };
  // The ref moved between our check and the remote's update (a concurrent push won the race):
  // receive-pack's compare-and-swap fails with "cannot lock ref …: is at X but expected Y".
  const lostRace = /is at [0-9a-f]+ but expected [0-9a-f]+/.test(stderrDetail);
  return {
    kind: 'rejected',
    reason: lostRace ? 'non-fast-forward' : 'remote-rejected',
    detail: stderrDetail ? `${summary}; ${stderrDetail.replace(/\s+/g, ' ')}` : summary,
  };
}

async function commonDir(worktreePath: string): Promise<string> {
  const res = await git(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: worktreePath });
  return path.resolve(res.stdout.trim());
}

// ---------------------------------------------------------------------------------------------
// Artefacts

/**
 * Copies the directory `relDir` of the worktree (e.g. `docs/tasks/KEY`) into `destDir`.
 * Returns the copied files relative to `destDir` (posix separators); [] when `relDir` is absent.
 * Symbolic links are skipped: artefacts are written by agents and must not reach outside.
 */
export async function copyArtefacts(worktreePath: string, relDir: string, destDir: string): Promise<string[]> {
  const root = path.resolve(worktreePath);
  const source = path.resolve(root, relDir);
  const rel = path.relative(root, source);
  if (path.isAbsolute(relDir) || rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new TypeError(`artefact directory must be a subdirectory of the worktree: ${relDir}`);
  }
  // Every step must be a real directory: a link an agent planted (docs -> another task's worktree)
  // would have orch copy what the agent may not read.
  let dir = root;
  for (const part of rel.split(path.sep)) {
    dir = path.join(dir, part);
    if (!(await lstatOrNull(dir))?.isDirectory()) return [];
  }
  const copied: string[] = [];
  await copyTree(source, path.resolve(destDir), '', copied);
  return copied.sort();
}

async function copyTree(srcDir: string, destDir: string, prefix: string, copied: string[]): Promise<void> {
  await mkdir(destDir, { recursive: true });
  for (const entry of await readdir(srcDir, { withFileTypes: true })) {
    const from = path.join(srcDir, entry.name);
    const to = path.join(destDir, entry.name);
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) await copyTree(from, to, rel, copied);
    else if (entry.isFile()) {
      await copyFile(from, to);
      copied.push(rel);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Remote branches

export interface BranchPolicy {
  defaultBranch: string;
  /** Names or globs (`release/*`; `*` and `?` stay within one path segment, `**` crosses them). */
  protectedBranches: readonly string[];
}

/** Whether `branch` matches the glob `pattern` (picomatch; dot-names are ordinary names here). */
export function branchMatches(pattern: string, branch: string): boolean {
  return picomatch.isMatch(branch, pattern, { dot: true });
}

/** Throws `BranchProtectedError` unless orch may delete `branch`. */
export function assertDeletableBranch(branch: string, policy: BranchPolicy): void {
  if (branch === policy.defaultBranch) throw new BranchProtectedError(branch, 'default-branch');
  const pattern = policy.protectedBranches.find((p) => branchMatches(p, branch));
  if (pattern !== undefined) throw new BranchProtectedError(branch, 'protected', pattern);
  if (!branch.startsWith(ORCH_BRANCH_PREFIX) || branch.length === ORCH_BRANCH_PREFIX.length) {
    throw new BranchProtectedError(branch, 'not-orch-branch');
  }
}

export interface DeleteRemoteBranchInput extends BranchPolicy {
  remote: string;
  branch: string;
}

/**
 * Deletes `refs/heads/<branch>` on `remote` (`git push --delete`, which is not a force push).
 * Refuses, with `BranchProtectedError`, the default branch, protected names and anything not
 * under `orch/`. A branch that is already gone is success (`absent: true`).
 */
export async function deleteRemoteBranch(
  input: DeleteRemoteBranchInput,
): Promise<{ deleted: boolean; absent: boolean }> {
  const { branch } = input;
  assertDeletableBranch(branch, input);
  await assertBranchName(branch);
  const url = normaliseRemote(input.remote);
  if ((await remoteHead(url, branch)) === null) return { deleted: false, absent: true };

  const ref = `refs/heads/${branch}`;
  // `git push` needs a repository to run in; an empty scratch one will do.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'orch-delete-'));
  try {
    await git(['init', '--bare', '--quiet'], { cwd: scratch });
    const res = await git(['push', '--porcelain', '--delete', url, ref], { cwd: scratch, okExitCodes: [0, 1] });
    const line = res.stdout.split('\n').find((l) => (l.split('\t')[1] ?? '').endsWith(`:${ref}`));
    if (res.exitCode === 0 && line?.startsWith('-')) return { deleted: true, absent: false };
    // Someone else deleted it between our look and our push.
    if ((await remoteHead(url, branch)) === null) return { deleted: false, absent: true };
    const summary = line?.split('\t')[2] ?? '';
    throw new PushRejectedError(ref, 'remote-rejected', [summary, res.stderr.trim()].filter(Boolean).join('; '));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Branch names on `remote` that start with `prefix`, sorted. */
export async function listRemoteBranches(remote: string, prefix: string = ORCH_BRANCH_PREFIX): Promise<string[]> {
  const { stdout } = await git(['ls-remote', '--heads', normaliseRemote(remote)], { cwd: os.tmpdir() });
  return parseLsRemote(stdout)
    .map(([, ref]) => ref.slice('refs/heads/'.length))
    .filter((name) => name.startsWith(prefix))
    .sort();
}

/** The commit `branch` points at on `remote`, or null when it does not exist. */
export async function remoteHead(remote: string, branch: string): Promise<string | null> {
  return lsRemoteHead(os.tmpdir(), normaliseRemote(remote), branch);
}

async function lsRemoteHead(cwd: string, remote: string, branch: string): Promise<string | null> {
  const ref = `refs/heads/${branch}`;
  const { stdout } = await git(['ls-remote', '--heads', remote, ref], { cwd });
  // ls-remote patterns match ref-name suffixes, so insist on the exact ref.
  return parseLsRemote(stdout).find(([, name]) => name === ref)?.[0] ?? null;
}

function parseLsRemote(stdout: string): Array<[sha: string, ref: string]> {
  return stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter((parts): parts is [string, string] => parts.length === 2 && parts[0] !== '' && parts[1] !== '');
}

// ---------------------------------------------------------------------------------------------
// Small file-system helpers

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

function lstatOrNullSync(p: string) {
  try {
    return lstatSync(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/** The real path when it exists, else the resolved path: for comparing paths git printed. */
async function canonical(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return path.resolve(p);
  }
}

async function someAsync<T>(items: readonly T[], predicate: (item: T) => Promise<boolean>): Promise<boolean> {
  for (const item of items) if (await predicate(item)) return true;
  return false;
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
