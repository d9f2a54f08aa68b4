// `go install` of Go programs orch runs (the temporal CLI, the Temporal server and its SQL tool),
// through the Go module proxy, into a cache folder: built in a private dir, then renamed, so a
// concurrent or interrupted build never leaves a half binary. Progress lines for a person watching.
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { isExecutable, onPath } from './executables.js';

export class GoBuildError extends Error {
  override name = 'GoBuildError';
}

/** `go` on PATH, or where the official tarball puts it. */
export async function findGo(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return (await onPath('go', env)) ?? ((await isExecutable('/usr/local/go/bin/go')) ? '/usr/local/go/bin/go' : undefined);
}

export interface GoInstallOptions {
  /** What is being built, for the progress lines ("the temporal CLI v1.5.1"). */
  what: string;
  /** `module/path/cmd/x@version`, and the file name to give the binary `go install` writes (x). */
  packages: { pkg: string; binary: string; target: string }[];
  /** Said when Go is missing: how else to get the programs. */
  withoutGo: string[];
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

export async function goInstall(o: GoInstallOptions): Promise<void> {
  const go = await findGo(o.env);
  if (!go) throw new GoBuildError([`${o.what} is not installed and Go is not available to build it.`, ...o.withoutGo].join('\n  '));
  const dir = path.dirname(o.packages[0]!.target);
  await mkdir(dir, { recursive: true });
  const gobin = await mkdtemp(path.join(dir, '.build-'));
  const started = Date.now();
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  o.log(`orch: building ${o.what} from the Go module proxy (${go}).`);
  o.log(`orch: this happens once per machine and takes a few minutes on 2 cores; the result is cached in ${dir}`);
  const ticker = setInterval(() => o.log(`orch: still building ${o.what} (${elapsed()} elapsed)...`), 20_000);
  try {
    const child = execa(go, ['install', ...o.packages.map((p) => p.pkg)], {
      env: { ...o.env, GOBIN: gobin, GOFLAGS: '-mod=mod', GOTOOLCHAIN: o.env.GOTOOLCHAIN ?? 'auto' },
      all: true,
      reject: false,
    });
    let downloads = 0;
    child.all?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.startsWith('go: downloading')) downloads++;
    });
    const result = await child;
    if (result.exitCode !== 0) {
      throw new GoBuildError(`go install ${o.packages.map((p) => p.pkg).join(' ')} failed (exit ${result.exitCode}):\n${result.all}`);
    }
    for (const p of o.packages) await rename(path.join(gobin, p.binary), p.target);
    o.log(
      `orch: built ${o.what} in ${elapsed()}` +
        (downloads ? ` (${downloads} modules downloaded)` : ' (module cache reused)') +
        `: ${o.packages.map((p) => p.target).join(', ')}`,
    );
  } finally {
    clearInterval(ticker);
    await rm(gobin, { recursive: true, force: true });
  }
}
