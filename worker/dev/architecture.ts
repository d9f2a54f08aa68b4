// The layer check and the "Layers" section of docs/architecture.md, both from one
// dependency-cruiser run over the code with the rules in .dependency-cruiser.cjs.
//   tsx worker/dev/architecture.ts check   print the violations, exit 1 on any  (npm run check:layers)
//   tsx worker/dev/architecture.ts docs    rewrite the section in the docs      (npm run docs:architecture)
// test/unit/layers.test.ts runs both in memory: no violations, docs not stale.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, format, type ICruiseOptions, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DOC_FILE = join(ROOT, 'docs/architecture.md');
/** Every top-level folder that holds code under the rules. */
export const CODE_ROOTS = ['workflows', 'activities', 'worker', 'api', 'db', 'bin', 'bench', 'test'];
export const BEGIN = '<!-- layers:begin -->';
export const END = '<!-- layers:end -->';

/** Cruise `files` (paths relative to the repository root) with the project's rules. */
export async function cruiseLayers(files: string[] = CODE_ROOTS, overrides: ICruiseOptions = {}): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'));
  const tsConfig = extractTSConfig(join(ROOT, 'tsconfig.json'));
  const { output } = await cruise(files, { ...options, baseDir: ROOT, ...overrides }, {}, { tsConfig });
  if (typeof output === 'string') throw new Error('dependency-cruiser returned a report, not a result');
  return output;
}

/** The violations as dependency-cruiser's long error report (with each rule's comment), and its exit code. */
export async function formatViolations(result: ICruiseResult): Promise<{ text: string; failed: boolean }> {
  const { output, exitCode } = await format(result, { outputType: 'err-long' });
  return { text: String(output), failed: exitCode !== 0 };
}

// The diagram's boxes: the layers (most specific first: a path belongs to the first that matches)
// and the Temporal SDK packages, whose use is part of the rules. Other packages, Node built-ins,
// bench/ and test/ are left out: they would hide the layers.
const LAYERS = ['workflows/contracts', 'workflows', 'activities/adapters', 'activities', 'db', 'api', 'worker', 'bin'];
const TEMPORAL_PACKAGE = /^node_modules\/(@temporalio\/[^/]+)\//;

function boxOf(path: string): string | null {
  const layer = LAYERS.find((name) => path.startsWith(`${name}/`));
  return layer ? `${layer}/` : (TEMPORAL_PACKAGE.exec(path)?.[1] ?? null);
}
/** Layers in the order of LAYERS, then the packages. */
const rank = (box: string): number => (box.endsWith('/') ? LAYERS.indexOf(box.slice(0, -1)) : LAYERS.length);
const boxId = (box: string): string => box.replace(/[^a-z]+/gi, '_').replace(/^_|_$/g, '');

interface Edge {
  from: string;
  to: string;
  /** Every import behind the arrow is `import type`. */
  typeOnly: boolean;
  /** One of them breaks a rule. */
  broken: boolean;
}

/** The folder-level import graph: one arrow per pair of boxes with any import between them. */
export function layerEdges(result: ICruiseResult): Edge[] {
  const broken = new Set(
    result.summary.violations.filter((violation) => violation.type === 'dependency').map((violation) => `${violation.from}\0${violation.to}`),
  );
  const edges = new Map<string, Edge>();
  for (const module of result.modules) {
    const from = boxOf(module.source);
    if (!from || from.startsWith('@')) continue;
    for (const dependency of module.dependencies) {
      const to = boxOf(dependency.resolved);
      if (!to || to === from) continue;
      const typeOnly = dependency.dependencyTypes.some((type) => type === 'type-only' || type === 'type-import');
      const key = `${from}\0${to}`;
      const edge = edges.get(key) ?? { from, to, typeOnly: true, broken: false };
      edge.typeOnly &&= typeOnly;
      edge.broken ||= broken.has(`${module.source}\0${dependency.resolved}`);
      edges.set(key, edge);
    }
  }
  return [...edges.values()].sort((a, b) => rank(a.from) - rank(b.from) || rank(a.to) - rank(b.to) || a.to.localeCompare(b.to));
}

export function mermaidOf(edges: Edge[]): string {
  const boxes = [...new Set(edges.flatMap((edge) => [edge.from, edge.to]))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const lines = ['flowchart TB'];
  for (const box of boxes) lines.push(box.startsWith('@') ? `  ${boxId(box)}(["${box}"])` : `  ${boxId(box)}["${box}"]`);
  edges.forEach((edge) => lines.push(`  ${boxId(edge.from)} ${edge.typeOnly ? '-.->' : '-->'} ${boxId(edge.to)}`));
  const broken = edges.flatMap((edge, index) => (edge.broken ? [index] : []));
  if (broken.length > 0) lines.push(`  linkStyle ${broken.join(',')} stroke:red,stroke-width:2px`);
  return lines.join('\n');
}

/** The generated section, markers included. */
export function layersSection(result: ICruiseResult): string {
  const rules = result.summary.ruleSetUsed?.forbidden ?? [];
  return [
    BEGIN,
    '<!-- generated by `npm run docs:architecture` (worker/dev/architecture.ts) from the imports and .dependency-cruiser.cjs: do not edit by hand -->',
    '## Layers',
    '',
    'Imports point one way: down towards `workflows/contracts/`, the types and names every layer may import.',
    '`worker/` is the composition root and may import anything; `bench/` and `test/` too, but not each other.',
    'The rules below are [.dependency-cruiser.cjs](../.dependency-cruiser.cjs); `npm test` runs them',
    '(`npm run check:layers`) and fails on any error; `no-circular-types` only warns.',
    '',
    '| rule | allowed direction |',
    '|---|---|',
    ...rules.map((rule) => `| \`${rule.name}\` | ${(rule.comment ?? '').replaceAll('|', '\\|')} |`),
    '',
    'The imports between the layers as the code has them (a dashed arrow: types only; a red arrow breaks a rule):',
    '',
    '```mermaid',
    mermaidOf(layerEdges(result)),
    '```',
    END,
  ].join('\n');
}

/** `doc` with its section replaced by `section` (appended if the doc has no markers yet). */
export function withSection(doc: string, section: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) return `${doc.trimEnd()}\n\n${section}\n`;
  return doc.slice(0, begin) + section + doc.slice(end + END.length);
}

async function main(command: string | undefined): Promise<number> {
  const result = await cruiseLayers();
  if (command === 'check') {
    const { text, failed } = await formatViolations(result);
    process.stdout.write(text);
    return failed ? 1 : 0;
  }
  if (command === 'docs') {
    const doc = await readFile(DOC_FILE, 'utf8');
    await writeFile(DOC_FILE, withSection(doc, layersSection(result)));
    process.stdout.write(`wrote the Layers section of ${DOC_FILE}\n`);
    return 0;
  }
  process.stderr.write('usage: tsx worker/dev/architecture.ts check|docs\n');
  return 2;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv[2]);
}
