// Where Temporal is, and how to connect to it: one place for the client, the worker and the CLI.
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { OrchConfig } from '../config/env.js';
import { frontendAddress, readClusterSettings } from './cluster/settings.js';
import { readDevConfig } from './dev-server.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** True when the address is the local dev server from temporal-dev.yaml. */
  dev: boolean;
  /** True when it is the local cluster from temporal-cluster.yaml (`npm run cluster`). */
  cluster?: boolean;
}

/** How orch authenticates to Temporal: TLS (mTLS with a cert pair) and/or an API key; none for a dev server. */
export type TemporalAuth = Pick<OrchConfig['temporal'], 'tls' | 'tlsCertFile' | 'tlsKeyFile' | 'apiKey'>;

export async function temporalTarget(config: OrchConfig): Promise<TemporalTarget> {
  if (config.temporal.address) {
    return { address: config.temporal.address, namespace: config.temporal.namespace ?? 'default', dev: false };
  }
  if (config.temporal.local === 'cluster') {
    const cluster = await readClusterSettings(config.temporal.clusterConfigFile);
    return { address: frontendAddress(cluster), namespace: config.temporal.namespace ?? cluster.namespace, dev: false, cluster: true };
  }
  const dev = await readDevConfig(config.temporal.devConfigFile);
  const host = dev.ip === '0.0.0.0' ? '127.0.0.1' : dev.ip;
  return { address: `${host}:${dev.ports.grpc}`, namespace: config.temporal.namespace ?? dev.namespace, dev: true };
}

async function tlsOptions(auth: TemporalAuth | undefined) {
  if (!auth?.tls) return undefined;
  if (auth.tlsCertFile && auth.tlsKeyFile) {
    return { clientCertPair: { crt: await readFile(auth.tlsCertFile), key: await readFile(auth.tlsKeyFile) } };
  }
  return true as const;
}

export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
}

const unreachable = (target: TemporalTarget, err: unknown) =>
  new TemporalUnreachableError(
    `cannot reach Temporal at ${target.address} (namespace ${target.namespace}): ${(err as Error)?.message ?? err}` +
      (target.dev ? '' : '\n  check TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS*'),
  );

/** A client whose namespace answers; a TemporalUnreachableError naming the address otherwise. */
export async function connectClient(target: TemporalTarget, auth?: TemporalAuth): Promise<Client> {
  const options: ConnectionOptions = {
    address: target.address,
    tls: await tlsOptions(auth),
    apiKey: auth?.apiKey,
    connectTimeout: 5000,
  };
  let connection: Connection;
  try {
    connection = await Connection.connect(options);
    await connection.workflowService.describeNamespace({ namespace: target.namespace });
  } catch (err) {
    throw unreachable(target, err);
  }
  return new Client({ connection, namespace: target.namespace });
}

/** The native connection workers poll through. */
export async function connectWorkerConnection(target: TemporalTarget, auth?: TemporalAuth): Promise<NativeConnection> {
  const options: NativeConnectionOptions = {
    address: target.address,
    tls: await tlsOptions(auth),
    apiKey: auth?.apiKey,
  };
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw unreachable(target, err);
  }
}
