// Bare git repositories that serve as a repo's remote: the `demo` repo of npm start, and the remote
// of each test and bench instance. Seeded with one commit (README.md) on the default branch. A
// guarded remote also has a pre-receive hook that refuses history rewrites and deletion of the
// default branch, explaining why on stderr and logging every ref update.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
const IDENTITY = ['-c', 'user.name=orch', '-c', 'user.email=orch@orch.invalid', '-c', 'commit.gpgsign=false'];

export interface BareRemote {
  /** Path of the bare repository (usable as a git remote URL). */
  path: string;
  defaultBranch: string;
}

export interface GuardedRemote extends BareRemote {
  /** The file the pre-receive hook appends one line per ref update to (`ACCEPT …` / `REJECT …`). */
  hookLog: string;
}

export interface BareRemoteOptions {
  /** `main` unless given. */
  defaultBranch?: string;
  /** The first commit; `false` leaves the repository empty. */
  seed?: { readme: string; message: string } | false;
}

const git = (cwd: string, ...args: string[]) => execa('git', args, { cwd, env: GIT_ENV });

export async function createBareRemote(dir: string, o: BareRemoteOptions = {}): Promise<BareRemote> {
  return seeded(await initBare(dir, o.defaultBranch ?? 'main'), o.seed);
}

/** A bare remote with the guarding pre-receive hook, installed before the seed commit is pushed. */
export async function createGuardedRemote(dir: string, o: BareRemoteOptions = {}): Promise<GuardedRemote> {
  const remote = await initBare(dir, o.defaultBranch ?? 'main');
  const hookLog = path.join(dir, 'orch-hook.log');
  await writeFile(hookLog, '');
  const hook = path.join(dir, 'hooks', 'pre-receive');
  await writeFile(hook, preReceiveHook(remote.defaultBranch, hookLog));
  await chmod(hook, 0o755);
  return seeded({ ...remote, hookLog }, o.seed);
}

async function initBare(dir: string, defaultBranch: string): Promise<BareRemote> {
  await mkdir(dir, { recursive: true });
  await git(dir, 'init', '--bare', '--quiet', `--initial-branch=${defaultBranch}`);
  return { path: dir, defaultBranch };
}

async function seeded<R extends BareRemote>(remote: R, seed: BareRemoteOptions['seed'] = { readme: '# seeded\n', message: 'seed' }): Promise<R> {
  if (!seed) return remote;
  const work = await mkdtemp(path.join(tmpdir(), 'orch-seed-'));
  try {
    await git(work, 'init', '--quiet', `--initial-branch=${remote.defaultBranch}`);
    await writeFile(path.join(work, 'README.md'), seed.readme);
    await git(work, 'add', 'README.md');
    await git(work, ...IDENTITY, 'commit', '--quiet', '-m', seed.message);
    await git(work, 'push', '--quiet', remote.path, `HEAD:refs/heads/${remote.defaultBranch}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return remote;
}

function preReceiveHook(defaultBranch: string, logFile: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# A remote that refuses history rewrites and deletion of the default branch (worker/bare-remote.ts).
log=${q(logFile)}
protected=${q(`refs/heads/${defaultBranch}`)}
is_zero() { case "$1" in *[!0]*) return 1 ;; *) return 0 ;; esac; }
status=0
delay_file=${q(pushDelayFile(logFile))}
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

const pushDelayFile = (hookLog: string) => path.join(path.dirname(hookLog), 'orch-hook-delay');

/** Makes every update of the default branch take `seconds` longer (0 to switch off). */
export async function setPushDelay(remote: GuardedRemote, seconds: number): Promise<void> {
  await writeFile(pushDelayFile(remote.hookLog), seconds > 0 ? String(seconds) : '');
}

/** The hook's log lines. */
export async function readHookLog(remote: GuardedRemote): Promise<string[]> {
  return (await readFile(remote.hookLog, 'utf8')).split('\n').filter(Boolean);
}
