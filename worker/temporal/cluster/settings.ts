// temporal-cluster.yaml: the production-shaped Temporal `npm run cluster` runs (ports, shards,
// databases, how many orch hosts), checked with a readable error naming the file.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';

const port = z.number().int().min(1).max(65535);
// Temporal keeps each member's membership port in a SMALLINT column (cluster_membership.rpc_port).
const membershipPort = port.max(32767, 'at most 32767: Temporal stores membership ports as SMALLINT');
const service = z.strictObject({ grpc: port, membership: membershipPort, metrics: port });
export const CLUSTER_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

const settingsSchema = z
  .strictObject({
    namespace: z.string().min(1),
    ip: z.string().min(1),
    numHistoryShards: z.number().int().min(1).max(16384),
    services: z.strictObject({
      frontend: service.extend({ http: port }),
      history: service,
      matching: service,
      worker: service,
    }),
    databases: z.strictObject({
      default: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits, _'),
      visibility: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits, _'),
    }),
    maxConns: z.strictObject({ default: z.number().int().min(1), visibility: z.number().int().min(1) }),
    workerHosts: z.number().int().min(1).max(32),
    ui: z.strictObject({ enabled: z.boolean().default(true), port }),
    dynamicConfig: z.record(z.string(), z.unknown()).default({}),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('warn'),
  })
  .superRefine((s, ctx) => {
    const all = Object.entries(s.services).flatMap(([name, ports]) => Object.entries(ports).map(([kind, p]) => ({ what: `${name}.${kind}`, p })));
    all.push({ what: 'ui.port', p: s.ui.port });
    const seen = new Map<number, string>();
    for (const { what, p } of all) {
      if (seen.has(p)) ctx.addIssue({ code: 'custom', message: `port ${p} is given to both ${seen.get(p)} and ${what}`, path: ['services'] });
      seen.set(p, what);
    }
    if (s.databases.default === s.databases.visibility) ctx.addIssue({ code: 'custom', message: 'default and visibility must be two databases', path: ['databases'] });
  });
export type ClusterSettings = z.infer<typeof settingsSchema>;

export async function readClusterSettings(file: string): Promise<ClusterSettings> {
  const parsed = settingsSchema.safeParse(parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** host:port clients dial (the frontend's gRPC port). */
export const frontendAddress = (s: ClusterSettings) => `${s.ip === '0.0.0.0' ? '127.0.0.1' : s.ip}:${s.services.frontend.grpc}`;
