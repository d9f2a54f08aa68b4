// The one HTTP client of the CLI: base URL, bearer token, JSON in and out, and every failure mapped
// to a CliError (the API's own `error` text and status, or "cannot reach").
import type { Decided, DecisionRequest, QueueResponse, StartedTask, StartTaskRequest, StopSignalled, TaskResponse } from './api-types.js';
import { CliError, EXIT } from './cli-error.js';

export interface ApiClientOptions {
  baseUrl: string;
  token: string | undefined;
}

interface RequestOptions {
  body?: unknown;
  accept?: string;
  timeoutMs?: number;
}

/** Most calls answer at once; a reconcile runs a workflow across hosts. */
const DEFAULT_TIMEOUT_MS = 60_000;
const RECONCILE_TIMEOUT_MS = 300_000;

function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
}

/** A refusal: the API's `error` field when it sent JSON, else its text. */
async function errorOf(res: Response): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let message = text.trim() || res.statusText;
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') message = j.error;
  } catch {
    /* not JSON: keep the text */
  }
  return new CliError(`${message} (HTTP ${res.status})`, EXIT.refused, res.status);
}

export function createApiClient(o: ApiClientOptions) {
  const baseUrl = o.baseUrl.replace(/\/+$/, '');
  const taskRoute = (key: string) => `/api/tasks/${encodeURIComponent(key)}`;

  /** The response of a 2xx answer; anything else is thrown as a CliError. */
  async function request(method: string, route: string, r: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: r.accept ?? 'application/json' };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (r.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${route}`, {
        method,
        headers,
        body: r.body === undefined ? undefined : JSON.stringify(r.body),
        signal: r.timeoutMs === undefined ? undefined : AbortSignal.timeout(r.timeoutMs),
      });
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError') throw new CliError(`the orch API at ${baseUrl} did not answer ${method} ${route} in time`, EXIT.unreachable);
      const code = networkCode(err);
      throw new CliError(`cannot reach the orch API at ${baseUrl}; is \`npm start\` running?${code ? ` (${code})` : ''}`, EXIT.unreachable);
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  const json = async <T>(method: string, route: string, r: RequestOptions = {}): Promise<T> =>
    (await (await request(method, route, { timeoutMs: DEFAULT_TIMEOUT_MS, ...r })).json()) as T;

  return {
    baseUrl,
    startTask: (body: StartTaskRequest) => json<StartedTask>('POST', '/api/tasks', { body }),
    task: (key: string) => json<TaskResponse>('GET', taskRoute(key)),
    stopTask: (key: string, body: { reason?: string; requestedBy: string }) => json<StopSignalled>('POST', `${taskRoute(key)}/stop`, { body }),
    decide: (key: string, kind: 'approve' | 'reject', body: DecisionRequest) => json<Decided>('POST', `${taskRoute(key)}/${kind}`, { body }),
    queue: () => json<QueueResponse>('GET', '/queue'),
    reconcile: () => json<unknown>('POST', '/api/reconcile', { body: {}, timeoutMs: RECONCILE_TIMEOUT_MS }),
    /** The SSE stream of a task's agent logs (no timeout: `follow` lasts until the task ends). */
    logStream: async (key: string, follow: boolean): Promise<ReadableStream<Uint8Array>> => {
      const res = await request('GET', `${taskRoute(key)}/logs?follow=${follow ? 1 : 0}`, { accept: 'text/event-stream' });
      if (!res.body) throw new CliError('the API sent no log stream');
      return res.body;
    },
  };
}
export type ApiClient = ReturnType<typeof createApiClient>;
