// Where Temporal is, and how to connect to it: one place for the client, the worker and the CLI.
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { OrchConfig } from './config.js';
import { readDevConfig } from './temporal-dev.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** True when the address is the local dev server from temporal-dev.yaml. */
  dev: boolean;
}

export async function temporalTarget(config: OrchConfig): Promise<TemporalTarget> {
  if (config.temporal.address) {
    return { address: config.temporal.address, namespace: config.temporal.namespace ?? 'default', dev: false };
  }
  const dev = await readDevConfig(config.temporal.devConfigFile);
  const host = dev.ip === '0.0.0.0' ? '127.0.0.1' : dev.ip;
  return { address: `${host}:${dev.ports.grpc}`, namespace: config.temporal.namespace ?? dev.namespace, dev: true };
}

async function tlsOptions(config: OrchConfig) {
  const t = config.temporal;
  if (!t.tls) return undefined;
  if (t.tlsCertFile && t.tlsKeyFile) {
    return { clientCertPair: { crt: await readFile(t.tlsCertFile), key: await readFile(t.tlsKeyFile) } };
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

export async function connectClient(config: OrchConfig, target?: TemporalTarget): Promise<Client> {
  const t = target ?? (await temporalTarget(config));
  const options: ConnectionOptions = {
    address: t.address,
    tls: await tlsOptions(config),
    apiKey: config.temporal.apiKey,
    connectTimeout: 5000,
  };
  let connection: Connection;
  try {
    connection = await Connection.connect(options);
    await connection.workflowService.describeNamespace({ namespace: t.namespace });
  } catch (err) {
    throw unreachable(t, err);
  }
  return new Client({ connection, namespace: t.namespace });
}

export async function connectWorkerConnection(config: OrchConfig, target?: TemporalTarget): Promise<NativeConnection> {
  const t = target ?? (await temporalTarget(config));
  const options: NativeConnectionOptions = {
    address: t.address,
    tls: await tlsOptions(config),
    apiKey: config.temporal.apiKey,
  };
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw unreachable(t, err);
  }
}
