// The pipeline config: orch.yaml in, a validated and fully defaulted PipelineConfig out.
//
// {{dataDir}} and {{projectDir}} are filled in here, at load time. Run-time placeholders
// ({{key}}, {{stage}}, ...) stay in the strings; renderTemplate (activities/adapters/template.ts)
// fills them when a stage, gate or deploy runs. A bad file is reported in one go: every problem,
// each named by its path. The user-facing reference is docs/pipeline-config.md; keep the two in step.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { fill } from '../../activities/adapters/template.js';
import type { PipelineConfig } from '../../workflows/contracts/index.js';
import { describeIssue, PipelineConfigError, syntaxIssues, toConfigIssues } from './pipeline-errors.js';
import { pipelineSchema } from './pipeline-schema.js';

export interface PipelineVars {
  /** orch's data directory (bare remotes, worktrees, logs). */
  dataDir: string;
  /** The orch checkout itself (bin/, docs/). */
  projectDir: string;
}

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

/** Parses and validates pipeline YAML. Throws PipelineConfigError listing every problem. */
export function parsePipelineConfig(text: string, vars: PipelineVars, sourceName = 'pipeline config'): PipelineConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) throw new PipelineConfigError(sourceName, syntaxIssues(doc, lines));
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new PipelineConfigError(sourceName, [{ path: '', message: 'the file is empty; it needs at least agent and repos' }]);
  }
  const result = pipelineSchema.safeParse(data, { error: describeIssue });
  if (!result.success) throw new PipelineConfigError(sourceName, toConfigIssues(result.error, doc, lines));
  return substitute(result.data, vars);
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
