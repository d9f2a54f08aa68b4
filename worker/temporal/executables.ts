// Finding the programs orch runs or builds with (temporal, go, java, mvn) and where it caches the
// ones it builds itself.
import { access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

/** `~/.cache/orch/<name>` (or under XDG_CACHE_HOME): one folder per tool and version. */
export function orchCacheDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'orch', name);
}

export const isExecutable = (file: string): Promise<boolean> =>
  access(file, constants.X_OK).then(
    () => true,
    () => false,
  );

/** The first executable `name` on PATH. */
export async function onPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}
