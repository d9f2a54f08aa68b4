// `npm run temporal:install`: find or build the temporal CLI (see worker/temporal/cli.ts) and print its path.
import { resolveTemporalCli, TEMPORAL_CLI_VERSION } from './cli.js';

const started = Date.now();
resolveTemporalCli()
  .then((p) => {
    process.stdout.write(`temporal CLI (${TEMPORAL_CLI_VERSION} or the one you provided): ${p} [${((Date.now() - started) / 1000).toFixed(1)}s]\n`);
  })
  .catch((err: Error) => {
    process.stderr.write(`orch: ${err.message}\n`);
    process.exit(1);
  });
