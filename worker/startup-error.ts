// A start-up failure of an orch process, as a person reads it: one line naming what is wrong, no
// stack trace (unless LOG_LEVEL=debug and the error is not one of ours), exit status 1.
import { SandboxUnavailableError } from '../activities/adapters/bwrap.js';
import { ConfigError } from './config/config-error.js';
import { PipelineConfigError } from './config/pipeline-errors.js';
import { TemporalUnreachableError } from './temporal/connection.js';

const KNOWN = [ConfigError, PipelineConfigError, TemporalUnreachableError, SandboxUnavailableError];

/** Prints a start-up failure as one readable message and exits non-zero. */
export function exitOnStartupError(what: string) {
  return (err: unknown): never => {
    const e = err as Error;
    const known = KNOWN.some((K) => e instanceof K) || /^cannot reach /.test(e?.message ?? '');
    process.stderr.write(`orch ${what}: ${e?.message ?? String(err)}\n`);
    if (!known && process.env.LOG_LEVEL === 'debug') process.stderr.write(`${e?.stack}\n`);
    process.exit(1);
  };
}
