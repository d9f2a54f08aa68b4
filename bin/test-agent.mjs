#!/usr/bin/env node
// orch's scripted test agent: lets pipelines run end to end without an LLM.
//
// orch runs it with cwd = the task's git worktree. Inputs (flags win over env):
//   ORCH_TASK_KEY    / --key <k>
//   ORCH_STAGE       / --stage <s>
//   ORCH_ATTEMPT       (defaults to 1)
//   ORCH_PROMPT_FILE / --prompt-file <f>   the rendered prompt
//
// Behaviour is scripted by `@agent <directive> [<directive>...]` lines in the prompt:
//   sleep=<seconds> | sleep=<stage>:<seconds>   sleep before working (decimals allowed)
//   fail-stage=<stage>                          write nothing and exit 1 in that stage
//   hang[=<stage>]                              never exit; print progress every second
//   ignore-sigterm[=<stage>]                    log and ignore SIGTERM
//   grandchild[=<stage>]                        spawn a SIGTERM-ignoring grandchild in our
//                                               process group (lives until SIGKILL, max 10 min)
// and by `@agent-sh[=<stage>] <command line>` lines: the rest of the line runs as `sh -c` (output
// into the agent's log, its exit status printed), in order, before any sleep or hang: what an
// agent's shell tool would run.
// Without a directive stopping it, the agent writes docs/tasks/<KEY>/<stage>.md, commits it
// and exits 0.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const GRANDCHILD_MAX_MS = 10 * 60 * 1000;
const GIT_IDENTITY = ['-c', 'user.name=orch-test-agent', '-c', 'user.email=test-agent@orch.invalid', '-c', 'commit.gpgsign=false'];
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

// stdout/stderr writes to files and pipes are synchronous on Linux, so every line is
// visible to a log follower as soon as it is printed.
const say = (message) => process.stdout.write(`[test-agent] ${message}\n`);
const warn = (message) => process.stderr.write(`[test-agent] warning: ${message}\n`);

class UsageError extends Error {}

function parseFlags(argv) {
  const names = { '--key': 'key', '--stage': 'stage', '--prompt-file': 'promptFile' };
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = names[flag];
    if (!name) throw new UsageError(`unknown argument ${JSON.stringify(arg)} (expected --key, --stage, --prompt-file)`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    flags[name] = value;
  }
  return flags;
}

function resolveInputs(argv, env) {
  const flags = parseFlags(argv);
  const key = flags.key ?? env.ORCH_TASK_KEY;
  const stage = flags.stage ?? env.ORCH_STAGE;
  const promptFile = flags.promptFile ?? env.ORCH_PROMPT_FILE;
  const attempt = env.ORCH_ATTEMPT || '1';
  for (const [label, value] of [['task key (ORCH_TASK_KEY / --key)', key], ['stage (ORCH_STAGE / --stage)', stage]]) {
    if (!value) throw new UsageError(`missing ${label}`);
    if (!SAFE_NAME.test(value)) throw new UsageError(`${label} ${JSON.stringify(value)} is not a safe path segment`);
  }
  let prompt = '';
  if (promptFile) {
    try {
      prompt = readFileSync(promptFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read prompt file ${promptFile}: ${err.message}`);
    }
  }
  return { key, stage, attempt, promptFile, prompt };
}

/** Every `name[=value]` token that follows `@agent` on any line of the prompt. */
function parseDirectives(prompt) {
  const directives = [];
  for (const line of prompt.split(/\r?\n/)) {
    const match = /(?:^|\s)@agent\s+(.*)$/.exec(line);
    if (!match) continue;
    for (const token of match[1].trim().split(/\s+/).filter(Boolean)) {
      const eq = token.indexOf('=');
      directives.push(eq < 0 ? { name: token, value: undefined, token } : { name: token.slice(0, eq), value: token.slice(eq + 1), token });
    }
  }
  return directives;
}

/** Reduces the directives to what applies to `stage`. Warns about anything it cannot use. */
function planFor(directives, stage) {
  const plan = { sleepSeconds: 0, fail: false, hang: false, ignoreSigterm: false, grandchild: false };
  let sleepIsStageSpecific = false;
  const forThisStage = (value) => value === undefined || value === stage;

  for (const { name, value, token } of directives) {
    switch (name) {
      case 'sleep': {
        const colon = value?.lastIndexOf(':') ?? -1;
        const target = colon >= 0 ? value.slice(0, colon) : undefined;
        const seconds = Number(colon >= 0 ? value.slice(colon + 1) : value);
        if (!value || !Number.isFinite(seconds) || seconds < 0) {
          warn(`ignoring ${token}: expected sleep=<seconds> or sleep=<stage>:<seconds>`);
        } else if (target === stage) {
          plan.sleepSeconds = seconds;
          sleepIsStageSpecific = true;
        } else if (target === undefined && !sleepIsStageSpecific) {
          plan.sleepSeconds = seconds;
        }
        break;
      }
      case 'fail-stage':
        if (!value) warn(`ignoring ${token}: expected fail-stage=<stage>`);
        else if (value === stage) plan.fail = true;
        break;
      case 'hang':
        if (forThisStage(value)) plan.hang = true;
        break;
      case 'ignore-sigterm':
        if (forThisStage(value)) plan.ignoreSigterm = true;
        break;
      case 'grandchild':
        if (forThisStage(value)) plan.grandchild = true;
        break;
      default:
        warn(`unknown directive ${JSON.stringify(token)}; continuing`);
    }
  }
  return plan;
}

/** The `@agent-sh[=<stage>] <command line>` lines that apply to `stage`, in order. */
function shellLines(prompt, stage) {
  const lines = [];
  for (const line of prompt.split(/\r?\n/)) {
    const match = /(?:^|\s)@agent-sh(?:=(\S+))?\s+(.+)$/.exec(line);
    if (match && (match[1] === undefined || match[1] === stage)) lines.push(match[2].trim());
  }
  return lines;
}

function runShell(command) {
  say(`sh -c ${JSON.stringify(command)}`);
  const result = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
  say(result.error ? `sh failed to start: ${result.error.message}` : `sh exited ${result.status ?? result.signal}`);
}

function processGroupId() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2] ?? '?';
  } catch {
    return '?';
  }
}

/** A process in our own process group that shrugs off SIGTERM; only SIGKILL (or 10 min) ends it. */
function spawnGrandchild() {
  const script = `process.on('SIGTERM', () => {}); setTimeout(() => process.exit(0), ${GRANDCHILD_MAX_MS});`;
  const child = spawn(process.execPath, ['-e', script, 'orch-test-agent-grandchild'], { stdio: 'ignore', detached: false });
  child.unref();
  say(`grandchild pid=${child.pid}`);
}

async function hangForever() {
  say('hanging: will not exit by itself');
  for (let seconds = 1; ; seconds++) {
    await sleep(1000);
    say(`still hanging (${seconds}s)`);
  }
}

function git(args) {
  const result = spawnSync('git', [...GIT_IDENTITY, ...args], { encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run git: ${result.error.message}`);
  return result;
}

function gitOrThrow(args) {
  const result = git(args);
  if (result.status !== 0) {
    throw new Error(`git ${args.join(' ')} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout.trim();
}

function stageNote({ key, stage, attempt, prompt }) {
  const firstLine = prompt.split(/\r?\n/).map((line) => line.trim()).find(Boolean) ?? '(empty prompt)';
  return [
    `# ${key}: ${stage}`,
    '',
    `- key: ${key}`,
    `- stage: ${stage}`,
    `- attempt: ${attempt}`,
    `- at: ${new Date().toISOString()}`,
    `- prompt: ${firstLine}`,
    '',
  ].join('\n');
}

function writeAndCommit(inputs) {
  const dir = join('docs', 'tasks', inputs.key);
  const file = join(dir, `${inputs.stage}.md`);
  if (git(['rev-parse', '--is-inside-work-tree']).status !== 0) {
    throw new Error(`${process.cwd()} is not inside a git work tree`);
  }
  say(`writing ${file}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, stageNote(inputs));

  say(`git add ${file}`);
  gitOrThrow(['add', '--', file]);
  if (git(['diff', '--cached', '--quiet']).status === 0) {
    say('nothing to commit');
    return;
  }
  const message = `${inputs.key}: ${inputs.stage}`;
  say(`git commit -m ${JSON.stringify(message)}`);
  gitOrThrow(['commit', '--quiet', '-m', message]);
  say(`committed ${gitOrThrow(['rev-parse', '--short', 'HEAD'])}`);
}

async function main() {
  const inputs = resolveInputs(process.argv.slice(2), process.env);
  say(`pid=${process.pid} pgid=${processGroupId()} key=${inputs.key} stage=${inputs.stage} attempt=${inputs.attempt}`);

  const directives = parseDirectives(inputs.prompt);
  if (directives.length > 0) say(`directives: ${directives.map((d) => d.token).join(' ')}`);
  const plan = planFor(directives, inputs.stage);

  if (plan.ignoreSigterm) {
    process.on('SIGTERM', () => say('received SIGTERM; ignoring it'));
    say('ignoring SIGTERM');
  }
  if (plan.grandchild) spawnGrandchild();
  for (const command of shellLines(inputs.prompt, inputs.stage)) runShell(command);
  if (plan.sleepSeconds > 0) {
    say(`sleeping ${plan.sleepSeconds}s`);
    await sleep(plan.sleepSeconds * 1000);
  }
  if (plan.hang) await hangForever();
  if (plan.fail) {
    say(`failing stage ${inputs.stage} as directed (fail-stage)`);
    return 1;
  }
  writeAndCommit(inputs);
  say('done');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`[test-agent] error: ${err.message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
