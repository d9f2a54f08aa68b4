// PostgreSQL connection (postgres.js + drizzle) and start-up migrations.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;
export interface Database {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export function connectDb(url: string, opts: { max?: number } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => undefined,
    connect_timeout: 10,
    idle_timeout: 30,
  });
  return { db: drizzle(sql, { schema }), sql, close: () => sql.end({ timeout: 5 }) };
}

/** Connects once and answers a trivial query, turning driver errors into one readable line. */
export async function checkDatabase(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => undefined });
  try {
    await sql`select 1`;
  } catch (err) {
    throw new Error(`cannot reach PostgreSQL at ${redactUrl(url)}: ${(err as Error).message}`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

export async function runMigrations(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    // Several processes may start at once on a fresh database: one migrates, the others wait.
    await sql`select pg_advisory_lock(7316001)`;
    await migrate(drizzle(sql), { migrationsFolder });
    await sql`select pg_advisory_unlock(7316001)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}
