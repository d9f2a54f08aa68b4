// A scripted model API on loopback for the real agent CLIs: Anthropic Messages for Claude Code
// (`ANTHROPIC_BASE_URL=<url>`), OpenAI Responses for Codex (`base_url = "<url>/v1"`). Each turn is
// decided by the `@model` directives in the prompt (see script.ts). Every request body is recorded,
// and so is the usage served, so tests assert what the model saw and what the CLI reported.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as anthropic from './anthropic.js';
import * as openai from './openai.js';
import { nextTurn, parseScript, SIDE_USAGE, type Turn, type Usage } from './script.js';

export type Api = 'anthropic' | 'openai' | 'other';

export interface RecordedRequest {
  api: Api;
  method: string;
  url: string;
  /** The parsed JSON body (or the raw text when it is not JSON; undefined when empty). */
  body: unknown;
  /** A main-loop turn (Claude Code: the request offers Bash/Write; Codex: every /v1/responses). */
  main: boolean;
  at: number;
}

export interface ServedTurn {
  api: Exclude<Api, 'other'>;
  /** Index into `requests`. */
  request: number;
  main: boolean;
  turn: Turn['kind'];
  usage: Usage;
}

export interface ScriptedModel {
  /** `http://127.0.0.1:<port>` (Claude Code's ANTHROPIC_BASE_URL; Codex's base_url is this + `/v1`). */
  url: string;
  requests: RecordedRequest[];
  served: ServedTurn[];
  /** The requests a CLI's main loop made, of one API. */
  mainRequests(api: Exclude<Api, 'other'>): RecordedRequest[];
  /** Usage summed over the turns served on one API (main loop only unless `side` is set). */
  totalUsage(api: Exclude<Api, 'other'>, options?: { side?: boolean }): Usage;
  close(): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sendError(res: ServerResponse, status: number, api: Api, message: string): void {
  const anthropicType = status === 404 ? 'not_found_error' : status === 400 ? 'invalid_request_error' : 'api_error';
  const body = api === 'anthropic' ? { type: 'error', error: { type: anthropicType, message } } : { error: { message, type: 'invalid_request_error', code: null } };
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startScriptedModel(): Promise<ScriptedModel> {
  const requests: RecordedRequest[] = [];
  const served: ServedTurn[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const api: Api = path.startsWith('/v1/messages') ? 'anthropic' : path.startsWith('/v1/responses') ? 'openai' : 'other';
    const body = await readBody(req);
    const index = requests.length;
    const record: RecordedRequest = { api, method: req.method ?? 'GET', url: req.url ?? '/', body, main: false, at: Date.now() };
    requests.push(record);
    const serve = (main: boolean, turn: Turn['kind'], usage: Usage) => served.push({ api: api as 'anthropic' | 'openai', request: index, main, turn, usage });

    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: 10 }));
      return;
    }
    if (req.method === 'POST' && path === '/v1/messages') {
      const request = (body ?? {}) as anthropic.MessagesRequest;
      const model = request.model ?? 'claude-scripted';
      record.main = anthropic.isMainLoop(request);
      const decided = record.main
        ? nextTurn(parseScript(anthropic.promptText(request)), anthropic.toolResultCount(request))
        : { turn: { kind: 'text', text: 'ok' } as const, usage: SIDE_USAGE };
      serve(record.main, decided.turn.kind, decided.usage);
      if (decided.turn.kind === 'hang') return; // the connection stays open until the client or close() ends it
      if (decided.turn.kind === 'fail') return sendError(res, 400, api, 'scripted failure (@model fail)');
      const cwd = anthropic.workingDirectory(request);
      if (request.stream) anthropic.answerStream(res, model, decided.turn, decided.usage, cwd);
      else anthropic.answerJson(res, model, decided.turn, decided.usage, cwd);
      return;
    }
    if (req.method === 'POST' && path === '/v1/responses') {
      const request = (body ?? {}) as openai.ResponsesRequest;
      record.main = true;
      const decided = nextTurn(parseScript(openai.promptText(request)), openai.toolResultCount(request));
      serve(true, decided.turn.kind, decided.usage);
      if (decided.turn.kind === 'hang') return;
      if (decided.turn.kind === 'fail') return sendError(res, 400, api, 'scripted failure (@model fail)');
      if (!request.stream) return sendError(res, 400, api, 'the scripted model only streams /v1/responses');
      openai.answerStream(res, request, decided.turn, decided.usage);
      return;
    }
    sendError(res, 404, api, `no such endpoint: ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'other', String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    served,
    mainRequests: (api) => requests.filter((request) => request.api === api && request.main),
    totalUsage(api, options = {}) {
      return served
        .filter((turn) => turn.api === api && (turn.main || options.side) && turn.turn !== 'hang' && turn.turn !== 'fail')
        .reduce(
          (sum, turn) => ({
            inputTokens: sum.inputTokens + turn.usage.inputTokens,
            outputTokens: sum.outputTokens + turn.usage.outputTokens,
            cachedInputTokens: sum.cachedInputTokens + turn.usage.cachedInputTokens,
          }),
          { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 },
        );
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
