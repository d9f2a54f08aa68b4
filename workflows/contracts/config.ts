// The pipeline config as every layer sees it: the output of the orch.yaml schema in
// worker/config/pipeline-schema.ts, which validates the file and resolves its defaults
// (docs/pipeline-config.md). Type-only imports: nothing of the schema reaches a workflow bundle.
import type { z } from 'zod';
import type { pipelineSchema } from '../../worker/config/pipeline-schema.js';

export type PipelineConfig = z.output<typeof pipelineSchema>;

/**
 * One stage. Agent stages have a prompt template (`{{key}}`, `{{title}}`, `{{description}}`,
 * `{{stage}}`, `{{repo}}`), a quality gate and their resolved agent, attempts and timeout; merge
 * and deploy stages have only name and kind, and the gate `{ type: 'none' }`.
 */
export type StageSpec = PipelineConfig['stages'][number];
export type StageKind = StageSpec['kind'];
/** The quality gate that decides whether an agent stage passed. */
export type GateSpec = StageSpec['gate'];

/**
 * An agent command: its adapter (`command`, `claude-code`, `codex`), an argv (never a shell string),
 * extra environment, the worker variables it may see (`passEnv`) and whether a retry resumes the session.
 */
export type AgentCommandSpec = PipelineConfig['agent'];
export type AgentAdapterName = NonNullable<AgentCommandSpec['adapter']>;
/** An argv and extra environment (a deploy command); `{{name}}` placeholders are filled in. */
export type CommandSpec = NonNullable<RepoSpec['deploy']>;

/** A spending limit: the task's (top level) or one attempt's (a stage's). */
export type BudgetSpec = NonNullable<PipelineConfig['budget']>;
/** USD per million tokens by model name. */
export type PriceTable = PipelineConfig['prices'];
export type SandboxSpec = PipelineConfig['sandbox'];

/**
 * A repo: its git remote (a path to a bare repo works), default branch, forge, optional deploy
 * command, `serial` (one task of the repo at a time) and the branches or globs (`release/*`) orch
 * must never delete (the default branch always is).
 */
export type RepoSpec = PipelineConfig['repos'][string];
export type ForgeSpec = RepoSpec['forge'];

/** `stage` is the startToClose backstop of one agent run. */
export type PipelineTimeouts = PipelineConfig['timeouts'];

/** A Temporal duration string such as `30s`, `5m`, `1h`, `250ms`. */
export type DurationString = PipelineTimeouts['stage'];
