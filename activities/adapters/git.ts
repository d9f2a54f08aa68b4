// Git operations for orch: a per-host mirror of each remote, one worktree per task, commits,
// plain pushes and branch clean-up. Plain async functions; the Temporal activities that use
// them live in activities/host and activities/forge.ts.
//
// Rules this module keeps:
// - every git call goes through `git()` below: an argv array, never a shell string;
// - nothing is ever force-pushed: no `--force`, no `+refspec`, no `--force-with-lease`;
// - orch only deletes remote branches it owns (`orch/…`), never the default or a protected one.

import { execa } from 'execa';
import { createHash, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
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
// Worktrees

export interface EnsureWorktreeInput {
  cacheDir: string;
  remote: string;
  defaultBranch: string;
  /** The task's feature branch, e.g. `orch/KEY`. */
  branch: string;
  worktreePath: string;
  /**
   * Start from the remote's state: a reused worktree is reset to `origin/<branch>` (or the default
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
  /** True when an existing worktree on `branch` was kept. */
  reused: boolean;
}

/**
 * Idempotently provides a worktree on `branch` at `worktreePath`. An existing valid worktree on
 * that branch is reused (fast-forwarded when the remote branch moved ahead and it is clean).
 * Otherwise it is (re)created from `origin/<branch>` when the remote has the branch, else from
 * `origin/<defaultBranch>`. Stale registrations and stale local branches are pruned / reset.
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
    const hasFeature = await refExists(mirror, featureRef);
    const fromBranch = hasFeature ? 'feature' : 'default';

    const existing = await inspectWorktree(wt, mirror);
    if (existing?.branch === branch && input.fresh) {
      const start = hasFeature ? featureRef : `refs/remotes/origin/${defaultBranch}`;
      await git(['reset', '--quiet', '--hard', start], { cwd: wt });
      await git(['clean', '-ffdxq'], { cwd: wt });
      return { path: wt, head: await revParse(wt, 'HEAD'), fromBranch, reused: true };
    }
    if (existing?.branch === branch) {
      const head = hasFeature ? await fastForwardIfBehind(wt, existing.head, featureRef) : existing.head;
      return { path: wt, head, fromBranch, reused: true };
    }

    // Whatever is there (wrong branch, broken checkout, leftover directory) is replaced.
    if (await pathExists(wt)) {
      await git(['worktree', 'remove', '--force', wt], { cwd: mirror, okExitCodes: [0, 128] });
      await rm(wt, { recursive: true, force: true });
    }
    await git(['worktree', 'prune'], { cwd: mirror });

    const holder = (await listWorktrees(mirror)).find((w) => w.branch === branch);
    if (holder) {
      throw new WorktreeError(
        `branch ${branch} is already checked out in another worktree (${holder.path}); remove that worktree first`,
      );
    }

    const start = hasFeature ? featureRef : `refs/remotes/origin/${defaultBranch}`;
    if (!hasFeature && !(await refExists(mirror, start))) {
      throw new WorktreeError(`the remote has no branch ${defaultBranch} to start ${branch} from`);
    }
    await mkdir(path.dirname(wt), { recursive: true });
    // -B resets a stale local branch of that name; --no-track keeps pushes explicit.
    await git(['worktree', 'add', '--quiet', '--no-track', '-B', branch, wt, start], { cwd: mirror });
    return { path: wt, head: await revParse(wt, 'HEAD'), fromBranch, reused: false };
  });
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

/** The branch and head of `wt` when it is a working worktree of `mirror`; null otherwise. */
async function inspectWorktree(wt: string, mirror: string): Promise<{ branch: string | null; head: string } | null> {
  if (!(await isDirectory(wt))) return null;
  const probe = await git(
    ['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-common-dir'],
    { cwd: wt, okExitCodes: [0, 128] },
  );
  if (probe.exitCode !== 0) return null;
  const [toplevel, commonDir] = probe.stdout.trim().split('\n');
  if (!toplevel || !commonDir) return null;
  if ((await canonical(toplevel)) !== (await canonical(wt))) return null;
  if ((await canonical(commonDir)) !== (await canonical(mirror))) return null;
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: wt, okExitCodes: [0, 1] });
  if (head.exitCode !== 0) return null;
  const sym = await git(['symbolic-ref', '--quiet', 'HEAD'], { cwd: wt, okExitCodes: [0, 1] });
  const ref = sym.stdout.trim();
  return {
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null,
    head: head.stdout.trim(),
  };
}

/** Adds a worktree with a detached HEAD at `startRef` (for throwaway work such as merges). */
export async function addDetachedWorktree(mirror: string, wt: string, startRef: string): Promise<void> {
  assertNotMirror(path.resolve(wt), mirror);
  await mkdir(path.dirname(wt), { recursive: true });
  await withRepoLock(mirror, () =>
    git(['worktree', 'add', '--quiet', '--detach', path.resolve(wt), startRef], { cwd: mirror }),
  );
}

/** Removes the worktree at `wt` from `mirror` (registration and directory); true when anything was there. */
export async function dropWorktree(mirror: string, wt: string): Promise<boolean> {
  const target = path.resolve(wt);
  assertNotMirror(target, mirror);
  let removed = false;
  if (await isDirectory(mirror)) {
    await withRepoLock(mirror, async () => {
      const wanted = await canonical(target);
      const entries = await listWorktrees(mirror);
      const registered = await someAsync(entries, async (e) => (await canonical(e.path)) === wanted);
      if (registered) {
        await git(['worktree', 'remove', '--force', target], { cwd: mirror, okExitCodes: [0, 128] });
        removed = true;
      }
      if (await pathExists(target)) {
        await rm(target, { recursive: true, force: true });
        removed = true;
      }
      await git(['worktree', 'prune'], { cwd: mirror });
    });
  }
  if (await pathExists(target)) {
    await rm(target, { recursive: true, force: true });
    removed = true;
  }
  return removed;
}

/** `git worktree remove --force` + prune; an absent worktree is success. Also removes a leftover directory. */
export async function removeWorktree(
  cacheDir: string,
  remote: string,
  worktreePath: string,
): Promise<{ removed: boolean }> {
  return { removed: await dropWorktree(mirrorPath(cacheDir, remote), worktreePath) };
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
 * Pushes HEAD to `refs/heads/<branch>` on origin: a plain push, never forced. A no-op when the
 * remote already has that commit. A rejection throws `PushRejectedError`.
 */
export async function pushBranch(worktreePath: string, branch: string): Promise<{ pushed: boolean; sha: string }> {
  await assertBranchName(branch);
  const sha = await revParse(worktreePath, 'HEAD');
  const ref = `refs/heads/${branch}`;
  if ((await lsRemoteHead(worktreePath, 'origin', branch)) === sha) return { pushed: false, sha };

  const mirror = await commonDir(worktreePath);
  const res = await withRepoLock(mirror, () =>
    git(['push', '--porcelain', 'origin', `HEAD:${ref}`], { cwd: worktreePath, okExitCodes: [0, 1] }),
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
  if (!(await isDirectory(source))) return [];
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
