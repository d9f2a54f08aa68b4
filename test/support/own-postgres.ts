// A PostgreSQL of the test's own (not the run's shared one), for the tests that stop it and start
// it again on the same data dir and port.
import { chmod, mkdtemp } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../db/embedded.js';
import { freePort } from '../../worker/harness/free-port.js';

export interface OwnPostgres {
  /** The server's `postgres` database: what `pgServerUrl` takes (each test env makes its own database). */
  adminUrl: string;
  dataDir: string;
  stop(): Promise<void>;
  /** Starts it again after `stop` (same data dir, same port). */
  start(): Promise<void>;
  /** Stops it for `downMs`, starts it again; resolves with how long it was down in all (ms). */
  restart(downMs: number): Promise<number>;
}

export async function ownPostgres(name: string): Promise<OwnPostgres> {
  const dataDir = await mkdtemp(path.join(inject('runDir'), `${name}-pg-`));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to enter the dir.
  if (userInfo().uid === 0) await chmod(dataDir, 0o755);
  const port = await freePort();
  let db: EmbeddedDb | null = await startEmbeddedPostgres({ dataDir, port });
  const admin = new URL(db.url);
  admin.pathname = '/postgres';
  const stop = async () => {
    await db?.stop();
    db = null;
  };
  const start = async () => {
    db ??= await startEmbeddedPostgres({ dataDir, port });
  };
  return {
    adminUrl: admin.toString(),
    dataDir,
    stop,
    start,
    async restart(downMs) {
      await stop();
      const downAt = Date.now();
      await sleep(downMs);
      await start();
      return Date.now() - downAt;
    },
  };
}
