// The pipeline config: orch.yaml in, a validated and fully defaulted PipelineConfig out.
//
// {{dataDir}} and {{projectDir}} are filled in here, at load time. Run-time placeholders
// ({{key}}, {{stage}}, ...) stay in the strings; renderTemplate fills them when a stage, gate
// or deploy runs. A bad file is reported in one go: every problem, each named by its path.
// The user-facing reference is docs/pipeline-config.md; keep the two in step.
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import * as z from 'zod';
import type { PipelineConfig, StageSpec } from '../workflows/types.js';
import { durationToMs } from '../workflows/duration.js';

export interface PipelineVars {
  /** orch's data directory (bare remotes, worktrees, logs). */
  dataDir: string;
  /** The orch checkout itself (bin/, docs/). */
  projectDir: string;
}

// ----------------------------------------------------------------------------- durations

const DURATION = /^\d+(ms|s|m|h)$/;
/** `30s` → 30000; shared with the workflows, which may import only pure code. */
export { durationToMs };

// -------------------------------------------------------------------------- placeholders

export const LOAD_TIME_PLACEHOLDERS = ['dataDir', 'projectDir'] as const;
export const RUN_TIME_PLACEHOLDERS = ['key', 'stage', 'title', 'description', 'repo', 'worktree', 'attempt'] as const;
const ALL_PLACEHOLDERS: readonly string[] = [...LOAD_TIME_PLACEHOLDERS, ...RUN_TIME_PLACEHOLDERS];
/** A deploy runs once per task, after the merge: there is no stage, attempt or worktree then. */
const DEPLOY_PLACEHOLDERS: readonly string[] = [...LOAD_TIME_PLACEHOLDERS, 'key', 'repo', 'title', 'description', 'sha'];

/** `{{name}}`, whitespace inside the braces tolerated. */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

const braces = (name: string): string => `{{${name}}}`;

function placeholdersIn(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/** Replaces each placeholder `lookup` knows; leaves the others as written. */
function fill(template: string, lookup: (name: string) => string | undefined): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => lookup(name) ?? whole);
}

/** Fills every `{{name}}` from `vars`. Throws, naming them, if any has no value. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  const missing = new Set<string>();
  const out = fill(template, (name) => {
    if (Object.hasOwn(vars, name)) return vars[name];
    missing.add(name);
    return undefined;
  });
  if (missing.size > 0) {
    const preview = template.length > 60 ? `${template.slice(0, 57)}...` : template;
    throw new Error(
      `template ${JSON.stringify(preview)} needs ${[...missing].map(braces).join(', ')}; ` +
        `given: ${Object.keys(vars).map(braces).join(', ') || 'nothing'}`,
    );
  }
  return out;
}

// -------------------------------------------------------------------------------- errors

export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. `repos.demo.forge.type`; empty for the file itself. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class PipelineConfigError extends Error {
  override name = 'PipelineConfigError';
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => formatIssue(source, issue)).join('\n'));
    this.source = source;
    this.issues = issues;
  }
}

function formatIssue(source: string, { path, message, line, column }: ConfigIssue): string {
  const where = line === undefined ? '' : ` (line ${line}, column ${column ?? 1})`;
  return `${source}: ${path ? `${path}: ` : ''}${message}${where}`;
}

/** `['repos', 'demo', 'forge']` → `repos.demo.forge`; `['stages', 2]` → `stages[2]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[\w-]+$/.test(String(segment))) out += `${out ? '.' : ''}${String(segment)}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** How a YAML value reads in a message. */
function show(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** `a, b or c` */
function either(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

const oneOf = (values: readonly unknown[]): string => either(values.map((v) => JSON.stringify(v)));

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** Messages in YAML terms for the issues no schema below words itself. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${show(issue.input)}`;
    case 'invalid_value':
      return `expected ${oneOf(issue.values)}, got ${show(issue.input)}`;
    case 'invalid_union': {
      // A discriminated union reports at the discriminator's path but with the whole mapping as input.
      if (issue.discriminator === undefined || issue.inclusive === false) return undefined;
      const value = discriminatorOf(issue.input, issue.discriminator);
      const options = oneOf(issue.options ?? []);
      return value === undefined ? `is required: ${options}` : `expected ${options}, got ${show(value)}`;
    }
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} entries`;
      return undefined;
    default:
      return undefined;
  }
}

function discriminatorOf(input: unknown, key: string): unknown {
  return input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[key] : undefined;
}

/** One ConfigIssue per problem, positioned in the file, in file order. */
function toConfigIssues(error: z.ZodError, locate: (path: readonly PropertyKey[]) => Position | undefined): ConfigIssue[] {
  const at = (path: readonly PropertyKey[], message: string): ConfigIssue => ({
    path: formatPath(path),
    message,
    ...locate(path),
  });
  const issues = error.issues.flatMap((issue) => {
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => at([...issue.path, key], issue.message));
      case 'invalid_key':
        return [at(issue.path, issue.issues[0]?.message ?? issue.message)];
      default:
        return [at(issue.path, issue.message)];
    }
  });
  return issues.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}

interface Position {
  line: number;
  column: number;
}

/** Where `path` is written in the document: its key, or the nearest enclosing key that exists. */
function locateIn(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): Position | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (!range) break;
      offset = range[0];
    } else {
      break;
    }
  }
  if (offset === undefined) return undefined;
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

// -------------------------------------------------------------------------------- schema

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

const notDuration = invalid((v) => `${show(v)} is not a duration like 30s, 5m, 250ms`);
const duration = z
  .string({ error: notDuration })
  .regex(DURATION, { error: notDuration })
  .refine((d) => !DURATION.test(d) || durationToMs(d) > 0, { error: 'must be longer than 0' });

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
    strict({ type: z.literal('file-exists'), path: text(ALL_PLACEHOLDERS).min(1) }),
    strict({
      type: z.literal('command'),
      command: text(ALL_PLACEHOLDERS).min(1),
      args: z.array(text(ALL_PLACEHOLDERS)).default([]),
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
  agent: command(ALL_PLACEHOLDERS).optional(),
  attempts: wholeNumber(1, 20).optional(),
  timeout: duration.optional(),
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

const stage = z.preprocess(withDefaultKind, z.discriminatedUnion('kind', [agentStage, mergeStage, deployStage]));

type ParsedStage = z.output<typeof stage>;

/** Names are unique; merge and deploy come once each, after every agent stage, merge first. */
function checkStages(ctx: z.core.ParsePayload<ParsedStage[]>): void {
  const report = (path: PropertyKey[], message: string) =>
    ctx.issues.push({ code: 'custom', message, input: ctx.value, path });
  const firstByName = new Map<string, number>();
  const at: Partial<Record<ParsedStage['kind'], number>> = {};

  ctx.value.forEach((s, i) => {
    const { merge, deploy } = at;
    if (s.kind === 'agent') {
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
}

// ---------------------------------------------------------------------- default pipeline

/** A default agent stage: its prompt gives the task and the work; its gate checks the report file. */
function defaultAgentStage(name: string, work: string, report: string) {
  const file = `docs/tasks/{{key}}/${name}.md`;
  const prompt = [
    'You are one stage of orch, an automated software-delivery pipeline.',
    '',
    'Task {{key}} in repository {{repo}}: {{title}}',
    '',
    'Task description:',
    '{{description}}',
    '',
    `This is the {{stage}} stage. ${work}`,
    '',
    `When the work is complete, write ${file} with ${report}.`,
    'Write it last: the stage passes only when that file exists.',
    'Commit everything, that file included, to the current branch.',
  ].join('\n');
  return { name, prompt, gate: { type: 'file-exists', path: file } };
}

const DEFAULT_STAGES = [
  defaultAgentStage(
    'analysis',
    'Understand the task before anyone changes code: read the code it touches and work out what is really being asked. Do not change any code in this stage.',
    'what is asked, the code involved, constraints and risks, open questions with the assumption you make for each, and how we will know the task is done',
  ),
  defaultAgentStage(
    'design',
    'Read docs/tasks/{{key}}/analysis.md and decide how to implement the task. Do not implement it yet.',
    'the modules that change and how, new or changed interfaces, data and migration concerns, the tests that will prove it works, and the alternatives you rejected and why',
  ),
  defaultAgentStage(
    'development',
    'Implement the task as designed in docs/tasks/{{key}}/design.md. Add or update tests and make sure the existing ones still pass. Keep the change focused on this task.',
    'what changed, how you tested it, and anything left undone',
  ),
  defaultAgentStage(
    'review',
    'Review the changes on the current branch against the default branch as a demanding senior reviewer: correctness, tests, error handling, security, readability, and whether the task as described is actually done. Fix what you find.',
    'your findings, what you fixed, and your verdict',
  ),
  { name: 'merge', kind: 'merge' },
  { name: 'deploy', kind: 'deploy' },
];

const DEFAULT_TIMEOUTS = { stage: '30m', heartbeat: '30s', merge: '10m', deploy: '15m' };

// ------------------------------------------------------------------------- whole config

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

const configSchema = strict({
  agent: command(ALL_PLACEHOLDERS),
  timeouts: strict({
    stage: duration.default(DEFAULT_TIMEOUTS.stage),
    heartbeat: duration.default(DEFAULT_TIMEOUTS.heartbeat),
    merge: duration.default(DEFAULT_TIMEOUTS.merge),
    deploy: duration.default(DEFAULT_TIMEOUTS.deploy),
  }).prefault({}),
  attemptsPerStage: wholeNumber(1, 20).default(2),
  maxConcurrentAgents: wholeNumber(1, 256).default(4),
  repos: z
    .record(repoName, repo)
    .refine((repos) => Object.keys(repos).length > 0, { error: 'must list at least one repo' }),
  stages: z.array(stage).check(checkStages).prefault(DEFAULT_STAGES),
}).check((ctx) => {
  const { stage: stageTimeout, heartbeat } = ctx.value.timeouts;
  if (!DURATION.test(heartbeat) || !DURATION.test(stageTimeout)) return; // already reported
  if (durationToMs(heartbeat) >= durationToMs(stageTimeout)) {
    ctx.issues.push({
      code: 'custom',
      message: `must be shorter than timeouts.stage (${stageTimeout}), or a hung agent is never noticed`,
      input: heartbeat,
      path: ['timeouts', 'heartbeat'],
    });
  }
});

type ParsedConfig = z.output<typeof configSchema>;

/** Fills the load-time placeholders in every string (the schema allows them only where they belong). */
function substitute<T>(value: T, vars: PipelineVars): T {
  const lookup = (name: string) => (name === 'dataDir' || name === 'projectDir' ? vars[name] : undefined);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return fill(v, lookup);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** The schema's output in the shared contract's shape, stage defaults resolved. */
function toPipelineConfig(parsed: ParsedConfig): PipelineConfig {
  const { agent, timeouts, attemptsPerStage, maxConcurrentAgents } = parsed;
  const stages = parsed.stages.map((s): StageSpec => {
    if (s.kind !== 'agent') return { name: s.name, kind: s.kind, gate: { type: 'none' } };
    return {
      ...s,
      agent: s.agent ?? agent,
      attempts: s.attempts ?? attemptsPerStage,
      timeout: s.timeout ?? timeouts.stage,
    };
  });
  const repos = Object.fromEntries(Object.entries(parsed.repos).map(([name, spec]) => [name, { name, ...spec }]));
  return { repos, stages, agent, timeouts, attemptsPerStage, maxConcurrentAgents };
}

// ---------------------------------------------------------------------------------- API

/** Parses and validates pipeline YAML. Throws PipelineConfigError listing every problem. */
export function parsePipelineConfig(text: string, vars: PipelineVars, sourceName = 'pipeline config'): PipelineConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PipelineConfigError(
      sourceName,
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { path: '', message: `YAML syntax error: ${e.message}`, line, column: col };
      }),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new PipelineConfigError(sourceName, [{ path: '', message: 'the file is empty; it needs at least agent and repos' }]);
  }
  const result = configSchema.safeParse(data, { error: describeIssue });
  if (!result.success) {
    throw new PipelineConfigError(sourceName, toConfigIssues(result.error, (path) => locateIn(doc, lines, path)));
  }
  return toPipelineConfig(substitute(result.data, vars));
}

/** Reads `file` and parses it; errors name the file as given. */
export async function loadPipelineConfig(file: string, vars: PipelineVars): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new PipelineConfigError(file, [{ path: '', message: `cannot read the pipeline config: ${reason}` }]);
  }
  return parsePipelineConfig(text, vars, file);
}
