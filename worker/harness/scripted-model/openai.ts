// OpenAI Responses API (`POST /v1/responses`, `stream: true`), as Codex calls it: semantic SSE
// events, each with a `sequence_number` — response.created, response.in_progress,
// response.output_item.added / .done (a `message` with output_text, or a `function_call`),
// response.output_text.delta, response.function_call_arguments.delta / .done, and last
// response.completed with usage. Shell calls use whichever shell tool the request offers.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type Answer, type Usage, writeCommand } from './script.js';

type Part = { type: string; text?: string };
type InputItem = { type?: string; role?: string; content?: string | Part[] };
interface Tool {
  type?: string;
  name?: string;
}
export interface ResponsesRequest {
  model?: string;
  stream?: boolean;
  input?: string | InputItem[];
  tools?: Tool[];
}

const items = (request: ResponsesRequest): InputItem[] =>
  typeof request.input === 'string' ? [{ type: 'message', role: 'user', content: request.input }] : (request.input ?? []);

export function promptText(request: ResponsesRequest): string {
  return items(request)
    .filter((item) => item.role === 'user')
    .flatMap((item) => (typeof item.content === 'string' ? [{ type: 'input_text', text: item.content }] : (item.content ?? [])))
    .filter((part) => part.type === 'input_text')
    .map((part) => part.text ?? '')
    .join('\n');
}

const OUTPUT_TYPES = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output']);
export const toolResultCount = (request: ResponsesRequest): number => items(request).filter((item) => OUTPUT_TYPES.has(item.type ?? '')).length;

/** The output item that asks Codex to run `command`, in the shape of the shell tool it offered. */
export function shellCall(tools: Tool[], command: string): Record<string, unknown> {
  const call_id = `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const id = `fc_${randomUUID().replace(/-/g, '')}`;
  const fn = (name: string, args: unknown) => ({ id, type: 'function_call', status: 'completed', call_id, name, arguments: JSON.stringify(args) });
  const names = new Set(tools.filter((tool) => tool.type === 'function').map((tool) => tool.name));
  if (names.has('shell')) return fn('shell', { command: ['bash', '-lc', command] });
  if (names.has('shell_command')) return fn('shell_command', { command });
  if (names.has('exec_command')) return fn('exec_command', { cmd: command });
  if (tools.some((tool) => tool.type === 'local_shell')) {
    return { id: `lsh_${randomUUID().replace(/-/g, '')}`, type: 'local_shell_call', status: 'completed', call_id, action: { type: 'exec', command: ['bash', '-lc', command] } };
  }
  throw new Error(`the request offers no shell tool (tools: ${tools.map((tool) => tool.name ?? tool.type).join(', ')})`);
}

const wireUsage = (usage: Usage) => ({
  input_tokens: usage.inputTokens,
  input_tokens_details: { cached_tokens: usage.cachedInputTokens },
  output_tokens: usage.outputTokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: usage.inputTokens + usage.outputTokens,
});

export function answerStream(res: ServerResponse, request: ResponsesRequest, turn: Answer, usage: Usage): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': `req_${randomUUID()}` });
  let sequence = 0;
  const send = (type: string, data: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`);
  const response = {
    id: `resp_${randomUUID().replace(/-/g, '')}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: 'in_progress',
    model: request.model ?? 'scripted',
    output: [] as unknown[],
    usage: null as unknown,
  };
  send('response.created', { response });
  send('response.in_progress', { response });

  let item: Record<string, unknown>;
  if (turn.kind === 'text') {
    const id = `msg_${randomUUID().replace(/-/g, '')}`;
    const part = { type: 'output_text', text: '', annotations: [] };
    send('response.output_item.added', { output_index: 0, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
    send('response.content_part.added', { item_id: id, output_index: 0, content_index: 0, part });
    send('response.output_text.delta', { item_id: id, output_index: 0, content_index: 0, delta: turn.text, logprobs: [] });
    send('response.output_text.done', { item_id: id, output_index: 0, content_index: 0, text: turn.text, logprobs: [] });
    send('response.content_part.done', { item_id: id, output_index: 0, content_index: 0, part: { ...part, text: turn.text } });
    item = { id, type: 'message', status: 'completed', role: 'assistant', content: [{ ...part, text: turn.text }] };
  } else {
    const command = turn.step.kind === 'run' ? turn.step.command : writeCommand(turn.step.path, turn.step.text);
    item = shellCall(request.tools ?? [], command);
    if (item.type === 'function_call') {
      send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
      send('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: item.arguments });
      send('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments });
    } else {
      send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress' } });
    }
  }
  send('response.output_item.done', { output_index: 0, item });
  send('response.completed', { response: { ...response, status: 'completed', output: [item], usage: wireUsage(usage) } });
  res.end();
}
