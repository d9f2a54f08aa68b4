// The zod schema of orch.yaml: it validates the file, fills in the defaults and, through its
// transform, gives the PipelineConfig every layer reads (workflows/contracts/config.ts is its
// z.output, imported as a type). It imports nothing from the contracts, so there is no cycle.
// Placeholders are checked here; pipeline.ts fills the load-time ones. Reference: docs/pipeline-config.md.
import { msToNumber } from '@temporalio/common/lib/time.js';
import * as z from 'zod';
import { braces, placeholdersIn } from '../../activities/adapters/template.js';
import { DEFAULT_ATTEMPTS_PER_STAGE, DEFAULT_MAX_CONCURRENT_AGENTS, DEFAULT_STAGES, DEFAULT_TIMEOUTS } from './pipeline-defaults.js';
import { discriminatorOf, either, show } from './pipeline-errors.js';

const DURATION = /^\d+(ms|s|m|h|d)$/;

// -------------------------------------------------------------------------- placeholders

export const LOAD_TIME_PLACEHOLDERS = ['dataDir', 'projectDir'] as const;
export const RUN_TIME_PLACEHOLDERS = ['key', 'stage', 'title', 'description', 'repo', 'worktree', 'attempt', 'lastFailure', 'promptFile'] as const;
const ALL_PLACEHOLDERS: readonly string[] = [...LOAD_TIME_PLACEHOLDERS, ...RUN_TIME_PLACEHOLDERS];
/** A deploy runs once per task, after the merge: there is no stage, attempt or worktree then. */
const DEPLOY_PLACEHOLDERS: readonly string[] = [...LOAD_TIME_PLACEHOLDERS, 'key', 'repo', 'title', 'description', 'sha'];
/** A gate runs after the agent, with the agent's placeholders but no prompt. */
const GATE_PLACEHOLDERS: readonly string[] = ALL_PLACEHOLDERS.filter((name) => name !== 'lastFailure' && name !== 'promptFile');

// ------------------------------------------------------------------------------- fields

/** A strict mapping: an unknown key is an error that lists the known ones. */
function strict<Shape extends z.core.$ZodLooseShape>(shape: Shape, hint?: string) {
  const known = `unknown key; ${hint ?? `expected one of: ${Object.keys(shape).join(', ')}`}`;
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? known : undefined),
  });
}

/** A string whose `{{placeholders}}` must be among `allowed`; `where` explains the others. */
function text(allowed: readonly string[], where = 'in this field') {
  const options = allowed.length ? `use ${either(allowed.map(braces))}` : 'placeholders are not supported here';
  return z.string().check((ctx) => {
    for (const name of new Set(placeholdersIn(ctx.value))) {
      if (allowed.includes(name)) continue;
      const message = ALL_PLACEHOLDERS.includes(name)
        ? `${braces(name)} is not available ${where}; ${options}`
        : `unknown placeholder ${braces(name)}; ${options}`;
      ctx.issues.push({ code: 'custom', message, input: ctx.value });
    }
  });
}

/** A schema-level message for a bad value; a missing one falls through to "is required". */
const invalid = (describe: (input: unknown) => string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? undefined : describe(issue.input);

const plain = text([]).min(1);
const branch = plain.regex(/^\S+$/, { error: invalid((v) => `${show(v)} is not a branch name (no spaces)`) });

const notDuration = invalid((v) => `${show(v)} is not a duration like 30s, 5m, 250ms, 7d`);
const duration = z
  .string({ error: notDuration })
  .regex(DURATION, { error: notDuration })
  .refine((d) => !DURATION.test(d) || msToNumber(d) > 0, { error: 'must be longer than 0' });

function wholeNumber(min: number, max: number) {
  const error = invalid((v) => `must be a whole number from ${min} to ${max}, got ${show(v)}`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: invalid((v) => `${show(v)} is not an environment variable name (letters, digits and _, not starting with a digit)`),
});

function command(placeholders: readonly string[], where?: string) {
  return strict({
    command: text(placeholders, where).min(1),
    args: z.array(text(placeholders, where)).default([]),
    env: z.record(envName, text(placeholders, where)).default({}),
  });
}

/** The agent CLIs orch knows how to drive; `command` is any program (the prompt on stdin and in a file). */
export const AGENT_ADAPTERS = ['command', 'claude-code', 'codex'] as const;
const DEFAULT_AGENT_COMMANDS: Record<(typeof AGENT_ADAPTERS)[number], string | undefined> = {
  command: undefined,
  'claude-code': 'claude',
  codex: 'codex',
};

function agentCommand(placeholders: readonly string[]) {
  return strict({
    adapter: z.enum(AGENT_ADAPTERS, { error: invalid((v) => `${show(v)} is not an adapter; use ${either(AGENT_ADAPTERS.map((a) => `"${a}"`))}`) }).default('command'),
    command: text(placeholders).min(1).optional(),
    args: z.array(text(placeholders)).default([]),
    env: z.record(envName, text(placeholders)).default({}),
    /** Worker variables the agent may see (an API key); nothing else of the worker's environment reaches it. */
    passEnv: z.array(envName).default([]),
    /** Attempt n>1 on the same host resumes attempt n-1's session (claude-code, codex). */
    resume: z.boolean().default(false),
  })
    .check((ctx) => {
      if (ctx.value.command === undefined && DEFAULT_AGENT_COMMANDS[ctx.value.adapter] === undefined) {
        ctx.issues.push({ code: 'custom', message: 'is required for the "command" adapter (claude-code and codex default to their CLI)', input: ctx.value, path: ['command'] });
      }
    })
    .transform(({ command, ...rest }) => ({ ...rest, command: command ?? DEFAULT_AGENT_COMMANDS[rest.adapter] ?? '' }));
}

const money = z.number({ error: invalid((v) => `must be a number of US dollars, got ${show(v)}`) }).positive({ error: 'must be more than 0' });

const budget = strict({
  maxCostUsd: money.optional(),
  maxTokens: wholeNumber(1, Number.MAX_SAFE_INTEGER).optional(),
});

const perMillion = z.number({ error: invalid((v) => `must be US dollars per million tokens, got ${show(v)}`) }).nonnegative({ error: 'must not be negative' });

/** USD per million tokens, for agents that report tokens but not money (Codex). */
const price = strict({ input: perMillion, cachedInput: perMillion.optional(), output: perMillion });

const absolutePath = z.string().regex(/^\//, { error: invalid((v) => `${show(v)} is not an absolute path`) });

const sandbox = strict({
  mode: z.enum(['auto', 'bwrap', 'none'], { error: invalid((v) => `${show(v)} is not a sandbox mode; use "auto", "bwrap" or "none"`) }).default('auto'),
  network: z.enum(['host', 'none'], { error: invalid((v) => `${show(v)} is not a network mode; use "host" or "none"`) }).default('host'),
  readOnly: z.array(absolutePath).default([]),
  writable: z.array(absolutePath).default([]),
});

const stageName = z.string().regex(/^[a-z][a-z0-9-]*$/, {
  error: invalid((v) => `${show(v)} is not a stage name: use lowercase letters, digits and "-", starting with a letter`),
});

const repoName = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, {
  error: invalid(
    (v) => `${show(v)} is not a repo name: use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit`,
  ),
});

const GATE_REQUIRED =
  'is required: an agent exiting 0 does not prove the stage succeeded; ' +
  'add { type: file-exists, path: ... } or { type: command, command: ..., args: [...] }';

const gate = z.discriminatedUnion(
  'type',
  [
    strict({ type: z.literal('file-exists'), path: text(GATE_PLACEHOLDERS).min(1) }),
    strict({
      type: z.literal('command'),
      command: text(GATE_PLACEHOLDERS).min(1),
      args: z.array(text(GATE_PLACEHOLDERS)).default([]),
    }),
  ],
  {
    error: (issue) => {
      if (issue.input === undefined) return GATE_REQUIRED;
      if (discriminatorOf(issue.input, 'type') !== 'none') return undefined;
      return '"none" is only for merge and deploy stages: an agent stage needs "file-exists" or "command"';
    },
  },
);

const agentStage = strict({
  name: stageName,
  kind: z.literal('agent'),
  prompt: text(ALL_PLACEHOLDERS).min(1),
  gate,
  agent: agentCommand(ALL_PLACEHOLDERS).optional(),
  attempts: wholeNumber(1, 20).optional(),
  timeout: duration.optional(),
  /** Bounds one attempt of this stage (the top-level budget bounds the whole task). */
  budget: budget.optional(),
  /** When the attempts are used up: back to an earlier agent stage, at most `maxLoops` times. */
  onFail: strict({ goto: stageName, maxLoops: wholeNumber(1, 20) }).optional(),
});

/** A person decides (the `approve` / `reject` update); the task waits durably, holding nothing. */
const approvalStage = strict({
  name: stageName,
  kind: z.literal('approval'),
  /** What the person is asked (shown in the Plane comment and the details). */
  prompt: text(ALL_PLACEHOLDERS).min(1).optional(),
  timeout: duration.optional(),
  timeoutAction: z.enum(['fail', 'approve'], { error: invalid((v) => `${show(v)} is not a timeout action; use "fail" or "approve"`) }).default('fail'),
  /** A reminder comment this often while nobody decides. */
  remind: duration.optional(),
  /** A rejection sends the task back to this earlier stage (its comment becomes `{{lastFailure}}`); without it a rejection fails the task. */
  onReject: strict({ goto: stageName }).optional(),
});

const mergeStage = strict(
  { name: stageName.default('merge'), kind: z.literal('merge') },
  'a merge stage takes only name and kind (its time limit is timeouts.merge)',
);

const deployStage = strict(
  { name: stageName.default('deploy'), kind: z.literal('deploy') },
  'a deploy stage takes only name and kind (the command is each repo\'s deploy, its time limit timeouts.deploy)',
);

/** `kind` may be left out and means `agent`. */
const withDefaultKind = (value: unknown): unknown =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !('kind' in value)
    ? { ...value, kind: 'agent' }
    : value;

const stage = z.preprocess(withDefaultKind, z.discriminatedUnion('kind', [agentStage, approvalStage, mergeStage, deployStage]));

type ParsedStage = z.output<typeof stage>;

/** Names are unique; merge and deploy come once each, after every agent stage, merge first. */
function checkStages(ctx: z.core.ParsePayload<ParsedStage[]>): void {
  const report = (path: PropertyKey[], message: string) =>
    ctx.issues.push({ code: 'custom', message, input: ctx.value, path });
  const firstByName = new Map<string, number>();
  const at: Partial<Record<ParsedStage['kind'], number>> = {};

  ctx.value.forEach((s, i) => {
    const { merge, deploy } = at;
    if (s.kind === 'approval') {
      if (deploy !== undefined) report([i, 'kind'], `approval stage "${s.name}" comes after the deploy stage at stages[${deploy}]; nothing is left to approve`);
    } else if (s.kind === 'agent') {
      const end = merge ?? deploy;
      if (end !== undefined) {
        const after = `the ${ctx.value[end]?.kind} stage at stages[${end}]`;
        report([i, 'kind'], `agent stage "${s.name}" comes after ${after}; merge and deploy must come after every agent stage`);
      }
    } else if (at[s.kind] !== undefined) {
      report([i, 'kind'], `only one ${s.kind} stage is allowed; stages[${at[s.kind]}] is one already`);
      return;
    } else {
      if (s.kind === 'merge' && deploy !== undefined) {
        report([i, 'kind'], `the merge stage must come before the deploy stage at stages[${deploy}]`);
      }
      at[s.kind] = i;
    }

    const first = firstByName.get(s.name);
    if (first === undefined) firstByName.set(s.name, i);
    else report([i, 'name'], `${JSON.stringify(s.name)} is already the name of stages[${first}]`);
  });

  if (at.deploy !== undefined && at.merge === undefined) {
    report([at.deploy, 'kind'], 'a deploy stage needs a merge stage before it: a deploy ships what was merged');
  }
  if (!ctx.value.some((s) => s.kind === 'agent')) report([], 'needs at least one agent stage');

  // A loop goes back: its target is an earlier stage of the right kind.
  ctx.value.forEach((s, i) => {
    const target = s.kind === 'agent' ? s.onFail?.goto : s.kind === 'approval' ? s.onReject?.goto : undefined;
    if (target === undefined) return;
    const field = s.kind === 'agent' ? 'onFail' : 'onReject';
    const at = ctx.value.findIndex((x) => x.name === target);
    const kinds = s.kind === 'agent' ? ['agent'] : ['agent', 'approval'];
    if (at < 0) report([i, field, 'goto'], `no stage is named ${JSON.stringify(target)}`);
    else if (at > i || (at === i && s.kind === 'approval')) report([i, field, 'goto'], `must name an earlier stage; ${JSON.stringify(target)} is stages[${at}]`);
    else if (!kinds.includes(ctx.value[at]!.kind)) report([i, field, 'goto'], `must name an ${kinds.join(' or ')} stage; ${JSON.stringify(target)} is ${/^[aeiou]/.test(ctx.value[at]!.kind) ? 'an' : 'a'} ${ctx.value[at]!.kind} stage`);
  });
}

// ---------------------------------------------------------------------------- the file

const repo = strict({
  remote: text(LOAD_TIME_PLACEHOLDERS, 'in a remote (it is used before any task exists)').min(1),
  defaultBranch: branch.default('main'),
  forge: z
    .discriminatedUnion('type', [
      strict({ type: z.literal('local') }),
      strict({
        type: z.literal('gitea'),
        baseUrl: z.url({
          protocol: /^https?$/,
          error: invalid((v) => `${show(v)} is not an http(s) URL like https://gitea.example.com`),
        }),
        owner: plain,
        repo: plain,
        tokenEnv: envName,
      }),
    ])
    .prefault({ type: 'local' }),
  deploy: command(DEPLOY_PLACEHOLDERS, 'in a deploy command (it runs once per task, after the merge)').optional(),
  serial: z.boolean().default(false),
  protectedBranches: z.array(branch).default([]),
});

const fileSchema = strict({
  agent: agentCommand(ALL_PLACEHOLDERS),
  budget: budget.optional(),
  prices: z.record(z.string().min(1), price).default({}),
  sandbox: sandbox.prefault({}),
  timeouts: strict({
    stage: duration.default(DEFAULT_TIMEOUTS.stage),
    heartbeat: duration.default(DEFAULT_TIMEOUTS.heartbeat),
    idle: duration.default(DEFAULT_TIMEOUTS.idle),
    merge: duration.default(DEFAULT_TIMEOUTS.merge),
    deploy: duration.default(DEFAULT_TIMEOUTS.deploy),
  }).prefault({}),
  attemptsPerStage: wholeNumber(1, 20).default(DEFAULT_ATTEMPTS_PER_STAGE),
  maxConcurrentAgents: wholeNumber(1, 256).default(DEFAULT_MAX_CONCURRENT_AGENTS),
  repos: z
    .record(repoName, repo)
    .refine((repos) => Object.keys(repos).length > 0, { error: 'must list at least one repo' }),
  stages: z.array(stage).check(checkStages).prefault(DEFAULT_STAGES),
}).check((ctx) => {
  const { stage: stageTimeout, heartbeat } = ctx.value.timeouts;
  if (!DURATION.test(heartbeat) || !DURATION.test(stageTimeout)) return; // already reported
  if (msToNumber(heartbeat) >= msToNumber(stageTimeout)) {
    ctx.issues.push({
      code: 'custom',
      message: `must be shorter than timeouts.stage (${stageTimeout}), or a hung agent is never noticed`,
      input: heartbeat,
      path: ['timeouts', 'heartbeat'],
    });
  }
});

// ------------------------------------------------------------------------ the final shape

type CommandOut = z.output<ReturnType<typeof command>>;
/** A command as readers get it: `env` may be left out of a spec built in code (tests do), so readers default it. */
type Command = Omit<CommandOut, 'env'> & Partial<Pick<CommandOut, 'env'>>;
type AgentCommandOut = z.output<ReturnType<typeof agentCommand>>;
/** An agent command as readers get it: only `command` and `args` are required of a spec built in code. */
type AgentCommand = Pick<AgentCommandOut, 'command' | 'args'> & Partial<Omit<AgentCommandOut, 'command' | 'args'>>;

type AgentStage = z.output<typeof agentStage>;

/**
 * Every stage in one shape, so workflows read `stage.prompt` or `stage.attempts` without narrowing:
 * merge and deploy stages have no agent fields and the gate `none`.
 */
type ApprovalStage = z.output<typeof approvalStage>;

type Stage = Pick<AgentStage, 'name'> &
  Partial<Pick<AgentStage, 'prompt' | 'attempts' | 'timeout' | 'budget' | 'onFail'>> &
  Partial<Pick<ApprovalStage, 'timeoutAction' | 'remind' | 'onReject'>> & {
    kind: ParsedStage['kind'];
    gate: AgentStage['gate'] | { type: 'none' };
    agent?: AgentCommand;
  };

/** A repo carries its name. */
type Repo = Omit<z.output<typeof repo>, 'deploy'> & { name: string; deploy?: Command };

/** The file's schema output as the contracts read it: repos carry their name, agent stages their resolved defaults. */
function toPipelineConfig(parsed: z.output<typeof fileSchema>) {
  const { timeouts, attemptsPerStage, maxConcurrentAgents, budget, prices, sandbox } = parsed;
  const agent: AgentCommand = parsed.agent;
  const stages = parsed.stages.map((s): Stage => {
    if (s.kind === 'approval') return { ...s, gate: { type: 'none' } };
    if (s.kind !== 'agent') return { name: s.name, kind: s.kind, gate: { type: 'none' } };
    return {
      ...s,
      agent: s.agent ?? agent,
      attempts: s.attempts ?? attemptsPerStage,
      timeout: s.timeout ?? timeouts.stage,
    };
  });
  const repos = Object.fromEntries(Object.entries(parsed.repos).map(([name, spec]): [string, Repo] => [name, { name, ...spec }]));
  return { repos, stages, agent, timeouts, attemptsPerStage, maxConcurrentAgents, ...(budget && { budget }), prices, sandbox };
}

/** orch.yaml (as parsed YAML) in, PipelineConfig out; load-time placeholders still unfilled. */
export const pipelineSchema = fileSchema.transform(toPipelineConfig);
