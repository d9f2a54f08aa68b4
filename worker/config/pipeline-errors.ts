// What a bad orch.yaml is told: every problem at once, each named by its dotted path and placed at
// its line and column, in YAML terms ("a mapping", "a list") rather than zod's.
import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type * as z from 'zod';

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
export function show(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** `a, b or c` */
export function either(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

const oneOf = (values: readonly unknown[]): string => either(values.map((v) => JSON.stringify(v)));

export function discriminatorOf(input: unknown, key: string): unknown {
  return input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[key] : undefined;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** Messages in YAML terms for the issues no schema words itself (the parse's `error` option). */
export function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
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

interface Position {
  line: number;
  column: number;
}

/** One ConfigIssue per problem, positioned in the document, in file order. */
export function toConfigIssues(error: z.ZodError, doc: Document, lines: LineCounter): ConfigIssue[] {
  const at = (path: readonly PropertyKey[], message: string): ConfigIssue => ({
    path: formatPath(path),
    message,
    ...locateIn(doc, lines, path),
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

/** The YAML parser's own errors (before any schema runs), positioned. */
export function syntaxIssues(doc: Document, lines: LineCounter): ConfigIssue[] {
  return doc.errors.map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    return { path: '', message: `YAML syntax error: ${e.message}`, line, column: col };
  });
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
