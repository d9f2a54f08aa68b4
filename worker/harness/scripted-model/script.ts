// The scripted model's "brain", shared by both wire formats: it reads `@model` directives from the
// prompt and decides the next turn from how many tool results the conversation already carries.
//
// Directives, one per line anywhere in the user's prompt, run in order:
//   @model write=<path>:<text>   a tool call that writes <text> to <path> (relative to the agent's cwd)
//   @model run=<command>         a tool call that runs <command> in a shell
//   @model hang                  hold the connection open and never answer
//   @model fail                  answer HTTP 400 (a request the API refuses: not retried)
//   @model costly                from here on, answer forever: a cheap shell call with a big usage each turn
//   @model say=<text>            the final answer's text (default "Done.")
// A directive may start with `first:` or `retry:`: it then applies only to a first attempt, or only
// to a retry (a prompt carrying orch's "## Why attempt N failed" section, i.e. `{{lastFailure}}`).
// With no (more) steps to take, the model answers with its final text and ends the turn.

export type Step =
  | { kind: 'write'; path: string; text: string }
  | { kind: 'run'; command: string }
  | { kind: 'hang' }
  | { kind: 'fail' }
  | { kind: 'costly' };

export interface Script {
  steps: Step[];
  finalText: string;
}

export type Turn =
  | { kind: 'tool'; step: Extract<Step, { kind: 'write' | 'run' }> }
  | { kind: 'text'; text: string }
  | { kind: 'hang' }
  | { kind: 'fail' };

/** A turn the model answers with content. */
export type Answer = Extract<Turn, { kind: 'tool' | 'text' }>;

/** Token counts one answer reports, in the scripted model's own neutral shape. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

export const NORMAL_USAGE: Usage = { inputTokens: 120, outputTokens: 30, cachedInputTokens: 0 };
// Below both CLIs' context windows (Codex compacts past its window and then fails against this server).
export const COSTLY_USAGE: Usage = { inputTokens: 100_000, outputTokens: 20_000, cachedInputTokens: 0 };
export const SIDE_USAGE: Usage = { inputTokens: 10, outputTokens: 2, cachedInputTokens: 0 };

const DIRECTIVE = /^[ \t]*@model[ \t]+(\S.*?)[ \t]*$/gm;
export const RETRY_MARKER = /^## Why attempt \d+ failed$/m;

export function parseScript(promptText: string): Script {
  const steps: Step[] = [];
  let finalText = 'Done.';
  const retry = RETRY_MARKER.test(promptText);
  for (const match of promptText.matchAll(DIRECTIVE)) {
    let body = match[1] ?? '';
    const when = /^(first|retry):\s*/.exec(body);
    if (when) {
      if ((when[1] === 'retry') !== retry) continue;
      body = body.slice(when[0].length);
    }
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? '' : body.slice(eq + 1);
    if (name === 'write') {
      const colon = value.indexOf(':');
      if (colon > 0) steps.push({ kind: 'write', path: value.slice(0, colon), text: value.slice(colon + 1) });
    } else if (name === 'run' && value) steps.push({ kind: 'run', command: value });
    else if (name === 'hang') steps.push({ kind: 'hang' });
    else if (name === 'fail') steps.push({ kind: 'fail' });
    else if (name === 'costly') steps.push({ kind: 'costly' });
    else if (name === 'say') finalText = value;
  }
  return { steps, finalText };
}

/** The next turn, given how many tool results have come back so far. */
export function nextTurn(script: Script, toolResults: number): { turn: Turn; usage: Usage } {
  const costlyAt = script.steps.findIndex((step) => step.kind === 'costly');
  const index = costlyAt >= 0 ? Math.min(toolResults, costlyAt) : toolResults;
  const step = script.steps[index];
  if (!step) return { turn: { kind: 'text', text: script.finalText }, usage: NORMAL_USAGE };
  if (step.kind === 'hang' || step.kind === 'fail') return { turn: { kind: step.kind }, usage: NORMAL_USAGE };
  if (step.kind === 'costly') return { turn: { kind: 'tool', step: { kind: 'run', command: 'true' } }, usage: COSTLY_USAGE };
  return { turn: { kind: 'tool', step }, usage: NORMAL_USAGE };
}

/** A shell-quoted command that writes `text` to `path` (for agents whose only tool is a shell). */
export function writeCommand(path: string, text: string): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  return `printf '%s' ${quote(text)} > ${quote(path)}`;
}
