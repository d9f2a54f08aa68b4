// Where an agent run (or a gate) is contained. `Sandbox.wrap` turns the argv orch would run into the
// argv that runs it inside the sandbox; `status` says plainly whether runs are contained at all.
// The bwrap implementation lives in createSandbox (issue 12); NO_SANDBOX runs things as they are.

export interface SandboxStatus {
  /** true when runs are contained (bwrap found and working). */
  active: boolean;
  mode: 'bwrap' | 'none';
  /** Why runs are not contained (mode none, or auto without a working bwrap); shown at start-up, /healthz, `orch queue`, task details. */
  warning?: string;
}

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

export const NO_SANDBOX: Sandbox = {
  status: { active: false, mode: 'none', warning: 'agents run unsandboxed (sandbox.mode: none)' },
  wrap: ({ command, args, env }) => ({ command, args, env }),
};
