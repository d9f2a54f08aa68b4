// Where an agent run (or a gate) is contained. `Sandbox.wrap` turns the argv orch would run into the
// argv that runs it inside the sandbox; `status` says plainly whether runs are contained at all.
// The bwrap implementation is createSandbox (./bwrap.ts); NO_SANDBOX runs things as they are.
import type { SandboxStatus } from '../../workflows/contracts/index.js';

export type { SandboxStatus } from '../../workflows/contracts/index.js';

/** One run to contain. `cwd` is the task's worktree; `home` and `tmp` are private to the task on this host. */
export interface SandboxRun {
  command: string;
  args: string[];
  cwd: string;
  home: string;
  tmp: string;
  /** The run's whole environment (already an allow-list). */
  env: Record<string, string>;
  /** Extra writable paths for this run (besides cwd, home, tmp and the configured ones). */
  writable?: string[];
}

export interface Sandbox {
  readonly status: SandboxStatus;
  /** The argv (and environment) that runs `run` inside the sandbox. */
  wrap(run: SandboxRun): { command: string; args: string[]; env: Record<string, string> };
}

/** Runs things as they are, saying why in `warning`. */
export function unsandboxed(warning: string): Sandbox {
  return {
    status: { active: false, mode: 'none', warning },
    wrap: ({ command, args, env }) => ({ command, args, env }),
  };
}

export const NO_SANDBOX: Sandbox = unsandboxed(
  'agents and gates run unsandboxed (sandbox.mode: none): they see the worker\'s files and every process of its user',
);
