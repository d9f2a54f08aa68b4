// temporal-server and temporal-sql-tool, built once per machine from the Go module proxy (v1.29.1,
// the server the dev CLI embeds; its module has no `replace` directive, so `go install` works)
// and cached beside the CLI, in ~/.cache/orch/temporal-server-<version>/.
import path from 'node:path';
import { isExecutable, orchCacheDir } from '../executables.js';
import { goInstall } from '../go-install.js';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';

export interface ClusterBinaries {
  server: string;
  sqlTool: string;
}

export const serverCacheDir = (env: NodeJS.ProcessEnv = process.env) => orchCacheDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`, env);

export interface ResolveBinariesOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** The cached binaries, building whichever is missing (the first build takes minutes). */
export async function resolveClusterBinaries(opts: ResolveBinariesOptions = {}): Promise<ClusterBinaries> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = serverCacheDir(env);
  const wanted = [
    { pkg: `${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, binary: 'server', target: path.join(dir, 'temporal-server') },
    { pkg: `${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`, binary: 'sql', target: path.join(dir, 'temporal-sql-tool') },
  ];
  const missing = [];
  for (const w of wanted) if (!(await isExecutable(w.target))) missing.push(w);
  if (missing.length) {
    await goInstall({
      what: `${missing.map((m) => path.basename(m.target)).join(' and ')} ${TEMPORAL_SERVER_VERSION}`,
      packages: missing,
      withoutGo: [
        'Install Go (>= 1.25) and run `npm run cluster` again,',
        `or put temporal-server and temporal-sql-tool ${TEMPORAL_SERVER_VERSION} (from Temporal's releases) in ${dir},`,
        'or point orch at a Temporal you run elsewhere with TEMPORAL_ADDRESS and `npm start`.',
      ],
      env,
      log,
    });
  }
  return { server: wanted[0]!.target, sqlTool: wanted[1]!.target };
}

/** The Web UI's server (temporalio/ui-server): the version the dev CLI v1.5.1 embeds. */
export const UI_SERVER_VERSION = 'v2.42.1';

/** The cached UI server, built when missing. */
export async function resolveUiServer(opts: ResolveBinariesOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const target = path.join(orchCacheDir(`temporal-ui-server-${UI_SERVER_VERSION}`, env), 'temporal-ui-server');
  if (await isExecutable(target)) return target;
  await goInstall({
    what: `the Temporal Web UI server ${UI_SERVER_VERSION}`,
    packages: [{ pkg: `github.com/temporalio/ui-server/v2/cmd/server@${UI_SERVER_VERSION}`, binary: 'server', target }],
    withoutGo: ['Install Go (>= 1.25), or set `ui.enabled: false` in temporal-cluster.yaml and point a UI of your own at the frontend (docs/deploy.md).'],
    env,
    log,
  });
  return target;
}
