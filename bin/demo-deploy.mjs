#!/usr/bin/env node
// The demo repo's deploy command (see orch.yaml): records a deploy by appending one line,
// `<iso time> <key> [<sha>]`, to the log file. Tests and benchmarks count those lines.
//
//   node bin/demo-deploy.mjs --log <file> --key <task key> [--sha <commit>] [--sleep <seconds>]
//
// --sleep makes the deploy take a while (the line is written at the end), so a test can stop
// a task mid-deploy and check that nothing was recorded.
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const USAGE = 'usage: demo-deploy --log <file> --key <task key> [--sha <commit>] [--sleep <seconds>]';

function fail(message) {
  process.stderr.write(`demo-deploy: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      log: { type: 'string' },
      key: { type: 'string' },
      sha: { type: 'string' },
      sleep: { type: 'string' },
    },
  }));
} catch (err) {
  fail(err.message);
}

if (!values.log) fail('--log is required');
if (!values.key) fail('--key is required');
const seconds = values.sleep === undefined ? 0 : Number(values.sleep);
if (!Number.isFinite(seconds) || seconds < 0) fail(`--sleep must be a number of seconds, got "${values.sleep}"`);

if (seconds > 0) await sleep(seconds * 1000);

const line = [new Date().toISOString(), values.key, values.sha].filter(Boolean).join(' ');
await mkdir(path.dirname(path.resolve(values.log)), { recursive: true });
await appendFile(values.log, `${line}\n`);
process.stdout.write(`deployed ${values.key}${values.sha ? ` at ${values.sha}` : ''}\n`);
