// Running the real agent CLIs (installed as pinned devDependencies) in a throwaway workspace: a
// fresh git repo as cwd and a private HOME / CODEX_HOME, so nothing of the machine's own config
// leaks in and nothing the CLI writes leaks out.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLAUDE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'claude');
export const CODEX_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'codex');

export interface Workspace {
  root: string;
  /** A git repository with one commit: the agent's cwd. */
  repo: string;
  home: string;
  remove(): void;
}

/**
 * Codex refuses to create its helper aliases (including `codex-linux-sandbox`, which its bwrap
 * sandbox execs) when CODEX_HOME is under the temp dir: every sandboxed command then fails
 * ("bwrap: execvp codex-linux-sandbox: No such file or directory"). So Codex's workspace lives under
 * the project's own test-artifacts/ (git-ignored): pass OUTSIDE_TMP as `base`.
 */
export const OUTSIDE_TMP = join(REPO_ROOT, 'test-artifacts');

export function makeWorkspace(prefix: string, base: string = tmpdir()): Workspace {
  mkdirSync(base, { recursive: true });
  const root = mkdtempSync(join(base, `${prefix}-`));
  const repo = join(root, 'repo');
  const home = join(root, 'home');
  mkdirSync(repo);
  mkdirSync(home);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'README.md'), '# scratch\n');
  git('add', '.');
  git('-c', 'user.name=orch', '-c', 'user.email=orch@example.invalid', 'commit', '-q', '-m', 'init');
  return { root, repo, home, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Only what the CLI needs: no API keys, config or HOME of the machine. */
export function baseEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs `command` in its own process group with `stdin` written and then closed; after `timeoutMs`
 * the whole group gets SIGKILL. The group matters for Codex: `node_modules/.bin/codex` is a Node
 * wrapper that spawns the native binary and forwards only SIGINT/SIGTERM/SIGHUP, so a SIGKILL of
 * the wrapper alone leaves the native codex running, holding stdout open.
 */
export function runCli(command: string, args: string[], options: { cwd: string; env: Record<string, string>; stdin: string; timeoutMs?: number }): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.stdin);
  const timer = setTimeout(() => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, options.timeoutMs ?? 90_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** CODEX_HOME with a config.toml pointing Codex at `baseUrl` (the Responses API, key from LOCAL_API_KEY). */
export function codexHome(home: string, baseUrl: string): string {
  const dir = join(home, '.codex');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'model = "gpt-test"',
      'model_provider = "local"',
      '',
      '[model_providers.local]',
      'name = "local"',
      `base_url = "${baseUrl}/v1"`,
      'wire_api = "responses"',
      'env_key = "LOCAL_API_KEY"',
      '',
    ].join('\n'),
  );
  return dir;
}
