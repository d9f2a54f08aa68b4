#!/usr/bin/env node
// Bench agent: records when it started and when SIGTERM reached it, then waits for that signal.
//
//   node sigterm-stamp.mjs --dir <stamp dir>
//
// Appends JSON lines to <dir>/<ORCH_TASK_KEY>.jsonl (O_APPEND, one write per line):
//   {"event":"ready","t":<ms>,"pid":…,"host":…,"stage":…,"attempt":…}   as soon as it runs
//   {"event":"sigterm","t":<ms>,"pid":…}                                  in the SIGTERM handler, then exit 143
// t is performance.timeOrigin + performance.now(): wall-clock milliseconds with sub-ms resolution,
// comparable with the same expression in the bench process on this machine.
// The worker's environment is inherited (orch's agent runs extend it), so ORCH_HOST_ID names the host.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const now = () => performance.timeOrigin + performance.now();

const argv = process.argv.slice(2);
const dirAt = argv.indexOf('--dir');
const dir = dirAt >= 0 ? argv[dirAt + 1] : process.env.BENCH_STAMP_DIR;
const key = process.env.ORCH_TASK_KEY;
if (!dir || !key) {
  process.stderr.write('sigterm-stamp: needs --dir <dir> (or BENCH_STAMP_DIR) and ORCH_TASK_KEY\n');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const file = join(dir, `${key}.jsonl`);
const stamp = (fields) => appendFileSync(file, `${JSON.stringify({ ...fields, pid: process.pid })}\n`);

process.on('SIGTERM', () => {
  stamp({ event: 'sigterm', t: now() });
  process.exit(143);
});
stamp({
  event: 'ready',
  t: now(),
  host: process.env.ORCH_HOST_ID ?? null,
  stage: process.env.ORCH_STAGE ?? null,
  attempt: Number(process.env.ORCH_ATTEMPT ?? 0),
});
// Sleep until signalled (orch's stage timeout, or the bench, ends it).
setInterval(() => undefined, 1 << 30);
