// Real git fixtures for tests: temporary directories, bare "remotes" guarded by a pre-receive
// hook that rejects non-fast-forward updates and deletion of the default branch, and small
// helpers to act as "somebody else" pushing to the remote.

import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

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

export interface BareRemote {
  /** Path of the bare repository (usable as a git remote URL). */
  path: string;
  defaultBranch: string;
  /** The file the pre-receive hook appends one line per ref update to (`ACCEPT …` / `REJECT …`). */
  hookLog: string;
}

/**
 * Creates a bare repository at `dir` with `defaultBranch` as HEAD, optionally seeded with one
 * commit (README.md), and a pre-receive hook that rejects non-fast-forward updates and
 * deletion of the default branch, explaining why on stderr.
 */
export async function createBareRemote(
  dir: string,
  options: { defaultBranch?: string; seed?: boolean } = {},
): Promise<BareRemote> {
  const { defaultBranch = 'main', seed = true } = options;
  await mkdir(dir, { recursive: true });
  await gitIn(dir, 'init', '--bare', '--quiet', `--initial-branch=${defaultBranch}`);
  const hookLog = path.join(dir, 'orch-hook.log');
  await writeFile(hookLog, '');
  const hook = path.join(dir, 'hooks', 'pre-receive');
  await writeFile(hook, preReceiveHook(defaultBranch, hookLog));
  await chmod(hook, 0o755);

  if (seed) {
    const work = await mkTmpDir('orch-seed-');
    await gitIn(work, 'init', '--quiet', `--initial-branch=${defaultBranch}`);
    await writeFile(path.join(work, 'README.md'), '# seeded\n');
    await gitIn(work, 'add', 'README.md');
    await gitIn(work, ...IDENTITY, 'commit', '--quiet', '-m', 'seed');
    await gitIn(work, 'push', '--quiet', dir, `HEAD:refs/heads/${defaultBranch}`);
  }
  return { path: dir, defaultBranch, hookLog };
}

function preReceiveHook(defaultBranch: string, logFile: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# Test fixture: a remote that refuses history rewrites and deletion of the default branch.
log=${q(logFile)}
protected=${q(`refs/heads/${defaultBranch}`)}
is_zero() { case "$1" in *[!0]*) return 1 ;; *) return 0 ;; esac; }
status=0
delay_file=${q(path.join(path.dirname(logFile), 'orch-hook-delay'))}
while read -r old new ref; do
  # Tests make updates of the default branch slow (to act during a merge) by writing seconds here.
  if [ "$ref" = "$protected" ] && [ -s "$delay_file" ]; then sleep "$(cat "$delay_file")"; fi
  if is_zero "$new"; then
    if [ "$ref" = "$protected" ]; then
      echo "pre-receive: refusing to delete $ref" >&2
      echo "REJECT delete $ref $old" >> "$log"
      status=1
      continue
    fi
    echo "ACCEPT delete $ref $old" >> "$log"
    continue
  fi
  if ! is_zero "$old" && ! git merge-base --is-ancestor "$old" "$new"; then
    echo "pre-receive: refusing non-fast-forward update of $ref ($old -> $new)" >&2
    echo "REJECT non-fast-forward $ref $old $new" >> "$log"
    status=1
    continue
  fi
  echo "ACCEPT update $ref $old $new" >> "$log"
done
exit $status
`;
}

/** Makes every update of the default branch take `seconds` longer (0 to switch off). */
export async function setPushDelay(remote: BareRemote, seconds: number): Promise<void> {
  await writeFile(path.join(path.dirname(remote.hookLog), 'orch-hook-delay'), seconds > 0 ? String(seconds) : '');
}

/** The hook's log lines. */
export async function readHookLog(remote: BareRemote): Promise<string[]> {
  return (await readFile(remote.hookLog, 'utf8')).split('\n').filter(Boolean);
}

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
