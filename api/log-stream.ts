// The live agent log stream of one task as Server-Sent Events: `attempt` (a file begins), `log`
// (lines), `end` (the task ended, or everything was read when not following), `error`.
// Files come in discovery order — the job rows' order (the attempts as they ran), then by mtime —
// and are followed by offset, so lines appended later arrive too.
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import type { Response } from 'express';
import type { Db } from '../db/client.js';
import type { Records } from '../db/records.js';
import { tasks, type Task } from '../db/schema.js';
import { isTerminal, type TaskStatus } from '../workflows/contracts/index.js';
import { messageOf } from './errors.js';

export interface LogStreamDeps {
  db: Db;
  records: Pick<Records, 'jobsOf'>;
  /** Where `logs/tasks/<KEY>/<stage>-<attempt>.log` live. */
  dataDir: string;
}

/** Largest read of one file per pass. */
const MAX_READ = 1 << 20;
const POLL_MS = 250;
const STATUS_EVERY_MS = 1000;
const KEEP_ALIVE_MS = 15_000;

interface Followed {
  name: string;
  offset: number;
  decoder: StringDecoder;
  rest: string;
}

export async function streamLogs(d: LogStreamDeps, res: Response, row: Task, key: string, follow: boolean) {
  const dir = path.join(d.dataDir, 'logs', 'tasks', key);
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  res.status(200).set({
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();

  /** Writes, waiting for the socket to drain (or close) when its buffer is full. */
  const write = async (chunk: string) => {
    if (closed) return;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  };
  const send = (event: string, data: string) => write(`event: ${event}\n${data.split('\n').map((l) => `data: ${l}\n`).join('')}\n`);

  const files: Followed[] = [];
  let current: Followed | null = null;
  const jobOrder = async () => {
    const jobs = await d.records.jobsOf(row.id).catch(() => []);
    return new Map(jobs.filter((j) => j.logFile).map((j, i) => [path.basename(j.logFile!), i]));
  };
  const discover = async () => {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.log') && !files.some((f) => f.name === n));
    if (names.length === 0) return;
    const order = await jobOrder();
    const withTimes = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(path.join(dir, name)).catch(() => null))?.mtimeMs ?? 0 })));
    withTimes.sort((a, b) => (order.get(a.name) ?? Infinity) - (order.get(b.name) ?? Infinity) || a.mtime - b.mtime || a.name.localeCompare(b.name));
    for (const { name } of withTimes) files.push({ name, offset: 0, decoder: new StringDecoder('utf8'), rest: '' });
  };
  const attemptInfo = (name: string) => {
    const m = /^(.+)-(\d+)\.log$/.exec(name);
    return JSON.stringify(m ? { file: name, stage: m[1], attempt: Number(m[2]) } : { file: name, stage: name.replace(/\.log$/, ''), attempt: null });
  };
  const emitLines = async (f: Followed, text: string, flush: boolean) => {
    const all = (f.rest + text).replace(/\r\n?/g, '\n');
    const lines = all.split('\n');
    f.rest = flush ? '' : lines.pop()!;
    if (flush && lines.at(-1) === '') lines.pop();
    if (lines.length === 0) return;
    if (current !== f) {
      if (current && current.rest) await emitLines(current, current.decoder.end(), true);
      current = f;
      await send('attempt', attemptInfo(f.name));
    }
    await send('log', lines.join('\n'));
  };
  /** Reads what was appended to every file since the last pass. True when anything was read. */
  const pass = async (): Promise<boolean> => {
    await discover();
    let any = false;
    for (const f of files) {
      if (closed) return any;
      const size = (await stat(path.join(dir, f.name)).catch(() => null))?.size ?? 0;
      if (size < f.offset) f.offset = 0; // truncated or replaced: start over
      if (size === f.offset) continue;
      const fh = await open(path.join(dir, f.name), 'r').catch(() => null);
      if (!fh) continue;
      try {
        const buf = Buffer.alloc(Math.min(size - f.offset, MAX_READ));
        const { bytesRead } = await fh.read(buf, 0, buf.length, f.offset);
        f.offset += bytesRead;
        if (bytesRead > 0) {
          any = true;
          await emitLines(f, f.decoder.write(buf.subarray(0, bytesRead)), false);
        }
      } finally {
        await fh.close();
      }
    }
    return any;
  };
  const drain = async () => {
    while (!closed && (await pass()));
    // Partial last lines: the current file's first, so no spurious file switch.
    const ordered = current ? [current, ...files.filter((f) => f !== current)] : files;
    for (const f of ordered) {
      const tail = f.decoder.end();
      if (f.rest || tail) await emitLines(f, tail, true);
    }
  };
  const statusNow = async (): Promise<TaskStatus | null> => {
    const [r] = await d.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, row.id)).limit(1);
    return r?.status ?? null;
  };

  try {
    if (!follow) {
      await drain();
      const status = await statusNow();
      await send('end', JSON.stringify({ key, status, terminal: status ? isTerminal(status) : null, follow: false }));
      return void res.end();
    }
    let lastStatusCheck = 0;
    let lastWrite = Date.now();
    for (;;) {
      if (closed) return;
      if (await pass()) lastWrite = Date.now();
      if (Date.now() - lastStatusCheck >= STATUS_EVERY_MS) {
        lastStatusCheck = Date.now();
        const status = await statusNow();
        if (status === null || isTerminal(status)) {
          await drain();
          await send('end', JSON.stringify({ key, status, terminal: true, follow: true }));
          return void res.end();
        }
      }
      if (Date.now() - lastWrite > KEEP_ALIVE_MS) {
        await write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await sleep(POLL_MS);
    }
  } catch (err) {
    if (!closed) {
      await send('error', JSON.stringify({ error: messageOf(err) })).catch(() => undefined);
      res.end();
    }
  }
}
