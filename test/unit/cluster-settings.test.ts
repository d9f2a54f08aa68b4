// temporal-cluster.yaml and the server config written from it (worker/temporal/cluster).
import { mkdtemp as makeTemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { readClusterSettings } from '../../worker/temporal/cluster/settings.js';
import { serverConfig, sqlTargetOf, writeServerConfigs } from '../../worker/temporal/cluster/server-config.js';

const shipped = path.join(projectDir, 'temporal-cluster.yaml');
const made: string[] = [];
const mkdtemp = async (prefix: string) => {
  const dir = await makeTemp(prefix);
  made.push(dir);
  return dir;
};
afterAll(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

async function withChange(change: (s: any) => void): Promise<string> {
  const s = parse(await readFile(shipped, 'utf8'));
  change(s);
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'orch-cluster-settings-')), 'c.yaml');
  await writeFile(file, stringify(s));
  return file;
}

describe('temporal-cluster.yaml', () => {
  it('the shipped file is valid: more than one history shard, four services', async () => {
    const s = await readClusterSettings(shipped);
    expect(s.numHistoryShards).toBeGreaterThan(1);
    expect(Object.keys(s.services).sort()).toEqual(['frontend', 'history', 'matching', 'worker']);
  });

  it('a membership port above 32767 is refused, saying why', async () => {
    const file = await withChange((s) => (s.services.history.membership = 40000));
    await expect(readClusterSettings(file)).rejects.toThrow(/SMALLINT[\s\S]*services\.history\.membership/);
  });

  it('a port given twice is named with both users', async () => {
    const file = await withChange((s) => (s.services.matching.grpc = s.services.frontend.grpc));
    await expect(readClusterSettings(file)).rejects.toThrow(/port 7233 is given to both frontend\.grpc and matching\.grpc/);
  });

  it('an unknown key is refused', async () => {
    const file = await withChange((s) => (s.shards = 8));
    await expect(readClusterSettings(file)).rejects.toThrow(/shards/);
  });
});

describe('the server config', () => {
  it('PostgreSQL persistence and visibility, each service on its own ports, its own metrics port per process', async () => {
    const s = await readClusterSettings(shipped);
    const sql = sqlTargetOf('postgres://orch:p%40ss@127.0.0.1:5555/orch');
    expect(sql).toEqual({ host: '127.0.0.1', port: 5555, user: 'orch', password: 'p@ss' });
    const c = serverConfig(s, sql, 'history', '/x/dynamicconfig.yaml');
    expect(c.persistence.numHistoryShards).toBe(s.numHistoryShards);
    expect(c.persistence.datastores['postgres-default'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'temporal', connectAddr: '127.0.0.1:5555' });
    expect(c.persistence.datastores['postgres-visibility'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'temporal_visibility' });
    expect(c.services.frontend?.rpc).toMatchObject({ grpcPort: 7233, membershipPort: 6933, httpPort: 7243 });
    expect(c.global.metrics.prometheus.listenAddress).toBe('127.0.0.1:9092');
    expect(serverConfig(s, sql, 'frontend', '/x').global.metrics.prometheus.listenAddress).toBe('127.0.0.1:9091');
  });

  it('writes one file per service and the dynamic config, readable only by the owner', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'orch-cluster-config-'));
    const s = await readClusterSettings(shipped);
    const configDir = await writeServerConfigs(dir, s, sqlTargetOf('postgres://orch:orch@127.0.0.1:5432/orch'));
    const dynamic = parse(await readFile(path.join(configDir, 'dynamicconfig.yaml'), 'utf8'));
    expect(dynamic['system.forceSearchAttributesCacheRefreshOnRead']).toEqual([{ value: true, constraints: {} }]);
    for (const svc of ['frontend', 'history', 'matching', 'worker']) {
      const c = parse(await readFile(path.join(configDir, `${svc}.yaml`), 'utf8'));
      expect(c.dynamicConfigClient.filepath).toBe(path.join(configDir, 'dynamicconfig.yaml'));
    }
    expect((await stat(path.join(configDir, 'history.yaml'))).mode & 0o077).toBe(0);
  });
});
