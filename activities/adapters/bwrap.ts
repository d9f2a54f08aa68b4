// The bubblewrap sandbox (docs/adr/0009-sandbox.md). Each run gets:
//   - its own PID namespace: when the run's root process ends, or bwrap is killed (--die-with-parent
//     also covers the guard dying), the kernel kills everything in it, `setsid` children included;
//   - a read-only view of the system, a fresh /proc (only the run's own processes), /dev and /tmp;
//   - orch's data dir hidden (a tmpfs over it), with only the task's worktree, HOME and TMPDIR bound
//     back writable at their own paths, the mirror objects the worktree borrows and its prompt file
//     read-only; the worker user's credential files hidden;
//   - the configured extra read-only and writable paths; no network namespace of the host's with
//     `network: none`;
//   - exactly the environment it was given: bwrap passes its own (the allow-list the guard was
//     started with) through, so nothing lands in an argv that other users can read in /proc.
//
//   guard ─▶ env --ignore-signal=TERM,INT,HUP bwrap … -- env --default-signal=TERM,INT,HUP <command>
//
// bwrap dies of a SIGTERM, and its death kills the namespace at once; ignoring SIGTERM in bwrap
// (and restoring it for the command) keeps orch's group kill graceful: the agent gets the SIGTERM,
// and the SIGKILL after the grace period reaches bwrap, which takes the namespace with it.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SandboxSpec } from '../../workflows/contracts/index.js';
import { NO_SANDBOX, unsandboxed, type Sandbox, type SandboxRun } from './sandbox.js';

/** The fix to name when bwrap is missing or does not work. */
export const BWRAP_FIX = 'apt-get install bubblewrap';

/** `sandbox.mode: bwrap` on a host where bwrap does not work: the worker refuses to start. */
export class SandboxUnavailableError extends Error {
  override readonly name = 'SandboxUnavailableError';
}

export interface SandboxContext {
  /** orch's data dir: hidden from every run but for the task's own paths. */
  dataDir: string;
  /** Where to look for `bwrap` and `env`; the worker's PATH by default. */
  path?: string;
  /** The worker user's home, whose credential files are hidden; os.homedir() by default. */
  userHome?: string;
}

/** Credential stores in the worker user's home that no run may read (a tmpfs or /dev/null over each). */
const HIDDEN_IN_HOME = [
  '.ssh', '.gnupg', '.netrc', '.git-credentials', '.config/git/credentials', '.config/gh', '.aws', '.azure',
  '.config/gcloud', '.kube', '.docker', '.npmrc', '.pypirc', '.pgpass', '.claude', '.claude.json', '.codex',
];
/** Host control sockets: talking to one is root on the host. */
const HIDDEN_SYSTEM = ['/run/docker.sock', '/run/containerd', '/run/podman', '/run/libvirt'];

const SIGNALS = 'TERM,INT,HUP';

interface Probe {
  ok: boolean;
  bwrap?: string;
  env?: string;
  /** false when `env` cannot ignore signals (coreutils < 8.31): a SIGTERM then kills the run at once. */
  shield: boolean;
  reason?: string;
}

const probes = new Map<string, Probe>();

/**
 * The sandbox `spec` asks for on this host. `mode: none` and `auto` without a working bwrap give an
 * unsandboxed one whose status carries the warning; `mode: bwrap` without it throws
 * SandboxUnavailableError naming the fix.
 */
export function createSandbox(spec: SandboxSpec, ctx: SandboxContext): Sandbox {
  if (spec.mode === 'none') return NO_SANDBOX;
  const probe = probeBwrap(ctx.path ?? process.env.PATH ?? '', spec.network === 'none');
  if (!probe.ok) {
    const why = `bubblewrap does not work here (${probe.reason}); install it with \`${BWRAP_FIX}\``;
    if (spec.mode === 'bwrap') throw new SandboxUnavailableError(`sandbox.mode is bwrap but ${why}, or set sandbox.mode to auto or none`);
    return unsandboxed(`agents and gates run UNSANDBOXED: ${why} (sandbox.mode: auto)`);
  }
  const layout = fixedLayout(spec, ctx);
  return {
    status: {
      active: true,
      mode: 'bwrap',
      network: spec.network,
      ...(!probe.shield && { warning: `\`env\` cannot ignore signals here (coreutils older than 8.31): a STOP kills runs at once instead of SIGTERM first` }),
    },
    wrap: (run) => wrapRun(run, probe, layout),
  };
}

interface Layout {
  dataDir: string;
  hidden: { path: string; dir: boolean }[];
  readOnly: string[];
  writable: string[];
  network: SandboxSpec['network'];
}

/** What every run of this worker shares: resolved once. */
function fixedLayout(spec: SandboxSpec, ctx: SandboxContext): Layout {
  const home = ctx.userHome ?? os.homedir();
  const hidden: Layout['hidden'] = [];
  const seen = new Set<string>();
  for (const p of [...HIDDEN_IN_HOME.map((rel) => path.join(home, rel)), ...HIDDEN_SYSTEM]) {
    const real = realOrNull(p);
    if (!real || seen.has(real)) continue;
    seen.add(real);
    hidden.push({ path: real, dir: statSync(real).isDirectory() });
  }
  return {
    dataDir: realOrNull(ctx.dataDir) ?? path.resolve(ctx.dataDir),
    hidden,
    readOnly: spec.readOnly.map((p) => realOrNull(p) ?? p),
    writable: spec.writable.map((p) => realOrNull(p) ?? p),
    network: spec.network,
  };
}

function wrapRun(run: SandboxRun, probe: Probe, layout: Layout): { command: string; args: string[]; env: Record<string, string> } {
  const own = (p: string) => realOrNull(p) ?? path.resolve(p);
  const cwd = own(run.cwd);
  const a: string[] = ['--unshare-pid', '--unshare-ipc', '--die-with-parent'];
  a.push('--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp');
  a.push('--tmpfs', layout.dataDir);
  for (const h of layout.hidden) a.push(...(h.dir ? ['--tmpfs', h.path] : ['--ro-bind', '/dev/null', h.path]));
  for (const p of layout.readOnly) a.push('--ro-bind-try', p, p);
  // The run's PATH is the worker's: what the private /tmp would hide of it stays readable.
  for (const dir of new Set((run.env.PATH ?? '').split(':').map((d) => realOrNull(d)))) {
    if (dir && (dir === '/tmp' || dir.startsWith('/tmp/')) && !isWithin(dir, layout.dataDir) && !isWithin(layout.dataDir, dir)) a.push('--ro-bind', dir, dir);
  }
  for (const objects of borrowedObjects(cwd, layout.dataDir)) a.push('--ro-bind', objects, objects);
  const prompt = run.env.ORCH_PROMPT_FILE && realOrNull(run.env.ORCH_PROMPT_FILE);
  if (prompt && statSync(prompt).isFile()) a.push('--ro-bind', prompt, prompt);
  for (const p of [cwd, own(run.home), own(run.tmp)]) a.push('--bind', p, p);
  for (const p of [...layout.writable, ...(run.writable ?? []).map(own)]) a.push('--bind-try', p, p);
  // Read-only once the binds under them exist: writing there fails instead of landing in a tmpfs.
  a.push('--remount-ro', layout.dataDir);
  for (const h of layout.hidden) if (h.dir) a.push('--remount-ro', h.path);
  if (layout.network === 'none') a.push('--unshare-net');
  a.push('--chdir', cwd, '--');
  const inner = probe.shield ? [probe.env!, `--default-signal=${SIGNALS}`, '--', run.command, ...run.args] : [run.command, ...run.args];
  return probe.shield
    ? { command: probe.env!, args: [`--ignore-signal=${SIGNALS}`, '--', probe.bwrap!, ...a, ...inner], env: run.env }
    : { command: probe.bwrap!, args: [...a, ...inner], env: run.env };
}

/**
 * The mirror object directories a task clone borrows (its `objects/info/alternates`), bound
 * read-only so git works inside. Only a mirror's objects under the data dir qualify, and orch
 * rewrites the file before every sandboxed run (secureClone), so an agent cannot widen its view.
 */
function borrowedObjects(worktree: string, dataDir: string): string[] {
  const gitDir = path.join(worktree, '.git');
  const file = path.join(gitDir, 'objects', 'info', 'alternates');
  for (const p of [gitDir, path.dirname(path.dirname(file)), path.dirname(file), file]) {
    if (lstatOrNull(p)?.isSymbolicLink() !== false) return [];
  }
  const mirror = new RegExp(`^${escapeRegExp(dataDir)}/hosts/[^/]+/mirrors/[^/]+\\.git/objects$`);
  const found: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const real = line.trim() && realOrNull(line.trim());
    if (real && mirror.test(real)) found.push(real);
  }
  return found;
}

/** Runs a trivial command the way runs are wrapped, once per PATH and network mode. */
function probeBwrap(searchPath: string, unshareNet: boolean): Probe {
  const key = `${searchPath}\0${unshareNet}`;
  const cached = probes.get(key);
  if (cached) return cached;
  const bwrap = which('bwrap', searchPath);
  const env = which('env', searchPath);
  let probe: Probe;
  if (!bwrap) probe = { ok: false, shield: false, reason: 'no bwrap on PATH' };
  else {
    const base = ['--unshare-pid', '--unshare-ipc', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', ...(unshareNet ? ['--unshare-net'] : []), '--'];
    const shielded = env ? run(env, [`--ignore-signal=${SIGNALS}`, '--', bwrap, ...base, env, `--default-signal=${SIGNALS}`, '--', 'true']) : null;
    if (shielded?.ok) probe = { ok: true, bwrap, env: env!, shield: true };
    else {
      const bare = run(bwrap, [...base, 'true']);
      probe = bare.ok ? { ok: true, bwrap, shield: false } : { ok: false, shield: false, reason: `${bwrap}: ${bare.error}` };
    }
  }
  probes.set(key, probe);
  return probe;
}

function run(command: string, args: string[]): { ok: boolean; error: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) return { ok: false, error: r.error.message };
  return { ok: r.status === 0, error: (r.stderr ?? '').trim() || `exit ${r.status ?? r.signal}` };
}

function which(name: string, searchPath: string): string | null {
  for (const dir of searchPath.split(':').filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
