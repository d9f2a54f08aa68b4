// Anthropic Messages API (`POST /v1/messages`), as Claude Code calls it: streaming SSE when
// `stream: true` (message_start, content_block_start/_delta/_stop, message_delta, message_stop),
// one JSON message otherwise. Tool calls are `tool_use` blocks for the CLI's own Write and Bash tools.
import { randomUUID } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Answer, Usage } from './script.js';

type Block = { type: string; text?: string; [key: string]: unknown };
interface Message {
  role: string;
  content: string | Block[];
}
export interface MessagesRequest {
  model?: string;
  stream?: boolean;
  system?: string | Block[];
  messages?: Message[];
  tools?: { name?: string }[];
}

const blocks = (content: string | Block[]): Block[] => (typeof content === 'string' ? [{ type: 'text', text: content }] : content);

/** The text the user wrote (every user text block; tool results are not prompt text). */
export function promptText(request: MessagesRequest): string {
  return (request.messages ?? [])
    .filter((message) => message.role === 'user')
    .flatMap((message) => blocks(message.content))
    .filter((block) => block.type === 'text')
    .map((block) => block.text ?? '')
    .join('\n');
}

export const toolResultCount = (request: MessagesRequest): number =>
  (request.messages ?? []).flatMap((message) => blocks(message.content)).filter((block) => block.type === 'tool_result').length;

/** A main-loop request offers the agent's tools; side requests (titles, summaries, …) do not. */
export const isMainLoop = (request: MessagesRequest): boolean =>
  (request.tools ?? []).some((tool) => tool.name === 'Bash' || tool.name === 'Write');

/**
 * Claude Code names its working directory (`Primary working directory: <path>`) in its environment
 * section: a `system` message among `messages` in 2.1.328, or the top-level `system`.
 */
export function workingDirectory(request: MessagesRequest): string | undefined {
  const system = typeof request.system === 'string' ? [{ type: 'text', text: request.system }] : (request.system ?? []);
  const systemMessages = (request.messages ?? []).filter((message) => message.role === 'system').flatMap((message) => blocks(message.content));
  const text = [...system, ...systemMessages].map((block) => block.text ?? '').join('\n');
  return /Primary working directory: (\S+)/.exec(text)?.[1];
}

const wireUsage = (usage: Usage) => ({
  input_tokens: usage.inputTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: usage.cachedInputTokens,
  output_tokens: usage.outputTokens,
});

/** The content blocks of one answer. */
function contentOf(turn: Answer, cwd: string | undefined): Block[] {
  if (turn.kind === 'text') return [{ type: 'text', text: turn.text }];
  const id = `toolu_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  if (turn.step.kind === 'write') {
    const path = isAbsolute(turn.step.path) || !cwd ? turn.step.path : join(cwd, turn.step.path);
    return [{ type: 'tool_use', id, name: 'Write', input: { file_path: path, content: turn.step.text } }];
  }
  return [{ type: 'tool_use', id, name: 'Bash', input: { command: turn.step.command, description: 'Run the requested command' } }];
}

export function answerJson(res: ServerResponse, model: string, turn: Answer, usage: Usage, cwd?: string): void {
  const content = contentOf(turn, cwd);
  const body = {
    id: `msg_${randomUUID().replace(/-/g, '')}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: turn.kind === 'tool' ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: wireUsage(usage),
  };
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${randomUUID()}` });
  res.end(JSON.stringify(body));
}

export function answerStream(res: ServerResponse, model: string, turn: Answer, usage: Usage, cwd?: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${randomUUID()}` });
  const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', {
    message: {
      id: `msg_${randomUUID().replace(/-/g, '')}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...wireUsage(usage), output_tokens: 1 },
    },
  });
  send('ping', {});
  contentOf(turn, cwd).forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      const text = block.text ?? '';
      const half = Math.ceil(text.length / 2);
      for (const piece of [text.slice(0, half), text.slice(half)]) {
        if (piece) send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      const json = JSON.stringify(block.input);
      const cut = Math.floor(json.length / 2);
      for (const piece of [json.slice(0, cut), json.slice(cut)]) send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', {
    delta: { stop_reason: turn.kind === 'tool' ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: usage.outputTokens },
  });
  send('message_stop', {});
  res.end();
}
