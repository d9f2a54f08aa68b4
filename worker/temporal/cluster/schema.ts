// The cluster's two databases in orch's PostgreSQL, and their schema brought to the version the
// server binary expects, by temporal-sql-tool: `setup-schema -v 0.0` (the version tables; a no-op
// on a database already past 0.0), then `update-schema` with the versioned schema embedded in the
// tool (the same files as schema/postgresql/v12/*/versioned in the server module). Both steps are
// idempotent, so every start runs them, and a newer binary upgrades the schema on its first start.
import { execa } from 'execa';
import postgres from 'postgres';
import type { SqlTarget } from './server-config.js';

const SCHEMAS = { default: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;

/** Creates each database that does not exist yet; a clear error when the user may not. */
export async function ensureDatabases(databaseUrl: string, names: string[]): Promise<string[]> {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  const created: string[] = [];
  try {
    for (const name of names) {
      const rows = await sql`select 1 from pg_database where datname = ${name}`;
      if (rows.length) continue;
      try {
        await sql.unsafe(`create database "${name}"`);
      } catch (err) {
        throw new Error(
          `cannot create the Temporal database "${name}" as ${admin.username}@${admin.host}: ${(err as Error).message}. ` +
            `Create it yourself (create database ${name} owner ${admin.username}), or grant CREATEDB.`,
        );
      }
      created.push(name);
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
  return created;
}

/** Runs the SQL tool's setup and update on one database. */
export async function migrateSchema(sqlTool: string, sql: SqlTarget, database: string, which: keyof typeof SCHEMAS): Promise<void> {
  // The password goes through the environment, not the command line (`ps` shows that).
  const env = { SQL_PLUGIN: 'postgres12', SQL_HOST: sql.host, SQL_PORT: String(sql.port), SQL_USER: sql.user, SQL_PASSWORD: sql.password, SQL_DATABASE: database };
  for (const args of [
    ['setup-schema', '-v', '0.0'],
    ['update-schema', '--schema-name', SCHEMAS[which]],
  ]) {
    const r = await execa(sqlTool, args, { env, all: true, reject: false });
    if (r.exitCode !== 0) {
      throw new Error(`temporal-sql-tool ${args.join(' ')} on database ${database} failed (exit ${r.exitCode}):\n${r.all}`);
    }
  }
}
