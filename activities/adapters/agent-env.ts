// The whole environment of an agent run or a gate: an allow-list, never the worker's environment.
// A ticket's text reaches the agent, so anything the worker holds (GITEA_TOKEN, DATABASE_URL,
// PLANE_API_KEY, …) must not: only what is named here, or by the config's `passEnv`, gets through.

/** Worker variables every run gets when the worker has them. */
export const BASE_ENV_NAMES = ['PATH', 'LANG', 'LC_ALL', 'TERM', 'TZ'] as const;

export interface RunEnvironment {
  home: string;
  tmp: string;
  /** orch's own run variables (ORCH_TASK_KEY, …). */
  orch: Record<string, string>;
  /** The config's `env` (already rendered). */
  extra?: Record<string, string>;
  /** Worker variables the config names in `passEnv`. */
  passEnv?: readonly string[];
  /** The worker's environment (process.env by default). */
  from?: NodeJS.ProcessEnv;
}

export function runEnvironment(r: RunEnvironment): Record<string, string> {
  const from = r.from ?? process.env;
  const env: Record<string, string> = {};
  for (const name of [...BASE_ENV_NAMES, ...(r.passEnv ?? [])]) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  env.LANG ??= 'C.UTF-8';
  return { ...env, HOME: r.home, TMPDIR: r.tmp, ...r.orch, ...(r.extra ?? {}) };
}
