// Finds the `temporal` CLI, building it from the Go module proxy when nothing else is there.
// Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache, then `go install`.
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { isExecutable, onPath, orchCacheDir } from './executables.js';

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
  const go = (await onPath('go', env)) ?? ((await isExecutable('/usr/local/go/bin/go')) ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new TemporalCliError(
      [
        'the temporal CLI is not installed and Go is not available to build it.',
        'Either install Go (>= 1.25) and run `npm run temporal:install`,',
        'or install the temporal CLI yourself (https://docs.temporal.io/cli) and put it on PATH,',
        'or set TEMPORAL_CLI_PATH to its location, or set TEMPORAL_ADDRESS to a running server.',
      ].join('\n  '),
    );
  }
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  // Build into a private dir, then rename: a concurrent build or an interrupted one never leaves a half binary.
  const gobin = await mkdtemp(path.join(dir, '.build-'));
  const started = Date.now();
  log(`orch: building the temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy (${go}).`);
  log('orch: this happens once per machine and takes a few minutes on 2 cores; the result is cached in ' + dir);
  const ticker = setInterval(() => {
    log(`orch: still building temporal (${Math.round((Date.now() - started) / 1000)}s elapsed)...`);
  }, 20_000);
  try {
    const child = execa(go, ['install', `${MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: gobin, GOFLAGS: '-mod=mod', GOTOOLCHAIN: env.GOTOOLCHAIN ?? 'auto' },
      all: true,
      reject: false,
    });
    let downloads = 0;
    child.all?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.startsWith('go: downloading')) downloads++;
      }
    });
    const result = await child;
    if (result.exitCode !== 0) {
      throw new TemporalCliError(`go install ${MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${result.exitCode}):\n${result.all}`);
    }
    await rename(path.join(gobin, 'temporal'), target);
    log(
      `orch: built temporal in ${Math.round((Date.now() - started) / 1000)}s` +
        (downloads ? ` (${downloads} modules downloaded)` : ' (module cache reused)') +
        `: ${target}`,
    );
  } finally {
    clearInterval(ticker);
    await rm(gobin, { recursive: true, force: true });
  }
}
