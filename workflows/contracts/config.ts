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

/** An argv: program plus arguments (never a shell string) and extra environment; `{{name}}` placeholders are filled in. */
export type CommandSpec = PipelineConfig['agent'];

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
