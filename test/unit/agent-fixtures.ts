// Shared helpers for the agent runtime tests: temp dirs, real git repos, and cleanup of
// every process group a test started.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { AgentRun, AgentRunSpec } from '../../activities/adapters/agent-process.js';
import { groupMembers, isProcessAlive, killProcessGroup } from '../../activities/adapters/process-tree.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TEST_AGENT = join(REPO_ROOT, 'bin', 'test-agent.mjs');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(25);
  }
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The pid the test agent printed for its grandchild, once it has. */
export function grandchildPid(logText: string): number | undefined {
  const match = /grandchild pid=(\d+)/.exec(logText);
  return match ? Number(match[1]) : undefined;
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execa('git', args, { cwd });
  return stdout.trim();
}

/**
 * Temp dirs, agent runs and raw process groups created by one test, all torn down by
 * `cleanup()` (call it from afterEach).
 */
export class Scratch {
  private readonly dirs: string[] = [];
  private readonly runs: AgentRun[] = [];
  private readonly groups: { pgid: number; marker: string }[] = [];

  dir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'orch-agent-test-'));
    this.dirs.push(dir);
    return dir;
  }

  /** A fresh git repository with no commits. */
  async repo(): Promise<string> {
    const dir = this.dir();
    await git(dir, 'init', '--quiet', '--initial-branch=main');
    return dir;
  }

  prompt(text: string): string {
    const file = join(this.dir(), 'prompt.md');
    writeFileSync(file, text);
    return file;
  }

  /** A spec that runs the test agent for `stage` of task T-1 in `cwd`. */
  spec(cwd: string, stage: string, prompt: string, env: Record<string, string> = {}): AgentRunSpec {
    return {
      command: TEST_AGENT,
      args: [],
      cwd,
      env: { ORCH_TASK_KEY: 'T-1', ORCH_STAGE: stage, ORCH_ATTEMPT: '1', ORCH_PROMPT_FILE: this.prompt(prompt), ...env },
      logFile: join(this.dir(), 'logs', `${stage}.log`),
    };
  }

  track(run: AgentRun): AgentRun {
    this.runs.push(run);
    return run;
  }

  /** A raw process group to stop at cleanup; `marker` appears in its leader's command line. */
  trackGroup(pgid: number, marker: string): void {
    this.groups.push({ pgid, marker });
  }

  async cleanup(): Promise<void> {
    for (const run of this.runs.splice(0)) await run.kill(0);
    for (const { pgid, marker } of this.groups.splice(0)) {
      // Only a group we can still recognise as ours: its leader still runs what we started,
      // or its members outlived the leader (the id cannot be reused while they live).
      const leaderIsOurs = isProcessAlive(pgid) && readText(`/proc/${pgid}/cmdline`).includes(marker);
      const orphaned = !isProcessAlive(pgid) && groupMembers(pgid).length > 0;
      if (leaderIsOurs || orphaned) await killProcessGroup(pgid, { graceMs: 0 });
    }
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
