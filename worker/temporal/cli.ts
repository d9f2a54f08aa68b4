// Finds the `temporal` CLI, building it from the Go module proxy when nothing else is there.
// Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache, then `go install`.
import path from 'node:path';
import { isExecutable, onPath, orchCacheDir } from './executables.js';
import { GoBuildError, goInstall } from './go-install.js';

/** v1.6.0 and later carry a `replace` directive that `go install pkg@version` rejects. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

export class TemporalCliError extends Error {
  override name = 'TemporalCliError';
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return orchCacheDir(`temporal-${TEMPORAL_CLI_VERSION}`, env);
}


export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for a person watching (the build takes minutes). */
  log?: (line: string) => void;
  /** When false, never build: return undefined if nothing is found. */
  build?: boolean;
}

export async function resolveTemporalCli(opts: ResolveOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (env.TEMPORAL_CLI_PATH) {
    if (!(await isExecutable(env.TEMPORAL_CLI_PATH))) {
      throw new TemporalCliError(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file`);
    }
    return env.TEMPORAL_CLI_PATH;
  }
  const fromPath = await onPath('temporal', env);
  if (fromPath) return fromPath;
  const cached = path.join(cacheDir(env), 'temporal');
  if (await isExecutable(cached)) return cached;
  if (opts.build === false) {
    throw new TemporalCliError(`no temporal CLI found (TEMPORAL_CLI_PATH, PATH, ${cached})`);
  }
  await buildWithGo(cached, env, log);
  return cached;
}

async function buildWithGo(target: string, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  try {
    await goInstall({
      what: `the temporal CLI ${TEMPORAL_CLI_VERSION}`,
      packages: [{ pkg: `${MODULE}@${TEMPORAL_CLI_VERSION}`, binary: 'temporal', target }],
      withoutGo: [
        'Either install Go (>= 1.25) and run `npm run temporal:install`,',
        'or install the temporal CLI yourself (https://docs.temporal.io/cli) and put it on PATH,',
        'or set TEMPORAL_CLI_PATH to its location, or set TEMPORAL_ADDRESS to a running server.',
      ],
      env,
      log,
    });
  } catch (err) {
    if (err instanceof GoBuildError) throw new TemporalCliError(err.message);
    throw err;
  }
}
