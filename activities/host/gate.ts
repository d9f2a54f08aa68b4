// The quality gate that decides whether an agent stage passed. A command gate runs the project's
// own code, so it runs like the agent: in the sandbox, with the allow-listed environment.
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import type { GateResult, GateSpec, HostActivities } from '../../workflows/contracts/index.js';
import { runEnvironment } from '../adapters/agent-env.js';
import { mirrorPath, secureClone, WorktreeError } from '../adapters/git.js';
import { NO_SANDBOX, type Sandbox } from '../adapters/sandbox.js';
import { renderTemplate } from '../adapters/template.js';
import { hostPaths, repoSpec, type ActivityDeps } from '../deps.js';

/** How much of a command gate's output the result keeps (the next attempt's prompt carries it). */
export const GATE_OUTPUT_BYTES = 4096;
const GATE_TIMEOUT_MS = 10 * 60_000;

export function createGateActivities(
  deps: Pick<ActivityDeps, 'dataDir' | 'hostId' | 'pipeline' | 'sandbox'>,
): Pick<HostActivities, 'runGate'> {
  const paths = hostPaths(deps);
  return {
    async runGate({ key, repo, stage, gate }) {
      const worktree = paths.worktree(key);
      const vars = { key, stage, repo, worktree, title: '', description: '', attempt: '' };
      if (gate.type !== 'command') return evaluateGate(gate, worktree, vars);
      // The sandbox binds the mirror objects the clone names: make the clone orch's first.
      const secured = await secureClone(worktree, mirrorPath(paths.mirrors, repoSpec(deps.pipeline, repo).remote));
      if (!secured.ok) throw new WorktreeError(`refusing to run the gate in ${worktree}: ${secured.reason}`);
      const home = paths.home(key);
      const tmp = paths.tmp(key);
      await Promise.all([mkdir(home, { recursive: true }), mkdir(tmp, { recursive: true })]);
      return evaluateGate(gate, worktree, vars, {
        sandbox: deps.sandbox,
        home,
        tmp,
        env: runEnvironment({ home, tmp, orch: { ORCH_TASK_KEY: key, ORCH_STAGE: stage } }),
        signal: Context.current().cancellationSignal,
      });
    },
  };
}

export interface GateRun {
  sandbox?: Sandbox;
  home: string;
  tmp: string;
  /** The gate's whole environment (an allow-list). */
  env: Record<string, string>;
  signal?: AbortSignal;
}

/** Decides a gate. A command gate without `run` runs unsandboxed with the worker's environment (tests). */
export async function evaluateGate(gate: GateSpec, worktree: string, vars: Record<string, string>, run?: GateRun): Promise<GateResult> {
  switch (gate.type) {
    case 'none':
      return { passed: true, detail: 'no gate' };
    case 'file-exists': {
      const rel = renderTemplate(gate.path, vars);
      const file = path.resolve(worktree, rel);
      if (!file.startsWith(path.resolve(worktree) + path.sep)) return { passed: false, detail: `${rel} is outside the worktree` };
      const s = await stat(file).catch(() => null);
      return s?.isFile() ? { passed: true, detail: `${rel} exists` } : { passed: false, detail: `${rel} does not exist` };
    }
    case 'command': {
      const command = renderTemplate(gate.command, vars);
      const args = gate.args.map((a) => renderTemplate(a, vars));
      const contained = run
        ? (run.sandbox ?? NO_SANDBOX).wrap({ command, args, cwd: worktree, home: run.home, tmp: run.tmp, env: run.env })
        : { command, args, env: undefined };
      const child = execa(contained.command, contained.args, {
        cwd: worktree,
        ...(contained.env && { env: contained.env, extendEnv: false }),
        reject: false,
        all: true,
        buffer: false,
        stdin: 'ignore',
        timeout: GATE_TIMEOUT_MS,
        // The sandbox's bwrap ignores SIGTERM (so an agent's stop stays graceful); SIGKILL takes the
        // whole namespace down with it.
        killSignal: 'SIGKILL',
        ...(run?.signal && { cancelSignal: run.signal }),
      });
      const output = tailOf(child.all);
      const res = await child;
      const text = (await output).trim();
      const lastLines = text.split('\n').slice(-5).join('\n');
      const how = res.timedOut ? `timed out after ${GATE_TIMEOUT_MS / 60_000} min` : `exited ${res.exitCode ?? res.signal}`;
      return res.exitCode === 0
        ? { passed: true, detail: `${gate.command} passed`, output: text }
        : { passed: false, detail: `${gate.command} ${how}${lastLines ? `: ${lastLines}` : ''}`, output: text };
    }
  }
}

/** The last GATE_OUTPUT_BYTES of a stream, decoded (a character cut at the start is dropped). */
async function tailOf(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  let tail = Buffer.alloc(0);
  for await (const chunk of stream) {
    tail = Buffer.concat([tail, chunk as Buffer]);
    if (tail.length > 2 * GATE_OUTPUT_BYTES) tail = tail.subarray(-GATE_OUTPUT_BYTES);
  }
  tail = tail.subarray(-GATE_OUTPUT_BYTES);
  // Skip UTF-8 continuation bytes a cut left at the start.
  let start = 0;
  while (start < tail.length && start < 4 && (tail[start]! & 0xc0) === 0x80) start++;
  return tail.subarray(start).toString('utf8');
}
