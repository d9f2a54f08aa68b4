// How the /queue snapshot talks to Temporal: every call under a deadline (a workflow without a
// worker never answers a query), and heartbeat details decoded with the client's own converter.
import type { Client } from '@temporalio/client';

/** How long one Temporal call of a snapshot may take. */
const RPC_DEADLINE_MS = 4000;

export const withDeadline = <T>(client: Client, fn: () => Promise<T>): Promise<T> => client.withDeadline(Date.now() + RPC_DEADLINE_MS, fn);

type Payload = Parameters<Client['options']['loadedDataConverter']['payloadConverter']['fromPayload']>[0];

/** The first payload of a Payloads message (e.g. an activity's last heartbeat details), decoded. */
export async function decodeFirstPayload(client: Client, payloads: { payloads?: unknown[] | null } | null | undefined): Promise<unknown> {
  let list = (payloads?.payloads ?? []) as Payload[];
  if (list.length === 0) return undefined;
  const dc = client.options.loadedDataConverter;
  for (const codec of [...dc.payloadCodecs].reverse()) list = await codec.decode(list);
  return list[0] ? dc.payloadConverter.fromPayload(list[0]) : undefined;
}
