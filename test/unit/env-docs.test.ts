// Every environment variable orch's code reads is documented, in README.md or docs/deploy.md.
// The scan reads the source (workflows/ activities/ worker/ api/ db/ bin/): `process.env.X`,
// `process.env['X']`, `env.X` / `env['X']` (a ProcessEnv passed around), and the keys of the zod
// schema in worker/config/env.ts. A name counts as documented when it appears in backticks
// (`NAME` or `NAME=…`). Names read through a variable (a repo's `tokenEnv`) cannot be seen here.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';

const SOURCE_DIRS = ['workflows', 'activities', 'worker', 'api', 'db', 'bin'];
const SOURCE_EXT = /\.(ts|mts|cts|js|mjs|cjs)$/;
const DOCS = ['README.md', 'docs/deploy.md'];

const NAME = '[A-Z_][A-Z0-9_]*';
const READS = [
  new RegExp(`\\bprocess\\.env\\.(${NAME})\\b`, 'g'),
  new RegExp(`\\bprocess\\.env\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g'),
  new RegExp(`(?<![\\w$])env\\.(${NAME})\\b`, 'g'),
  new RegExp(`(?<![\\w$])env\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g'),
  // const { A, B: b } = process.env
  /\{([^{}]*)\}\s*=\s*process\.env\b/g,
];

interface Source {
  file: string;
  text: string;
}

async function sources(): Promise<Source[]> {
  const out: Source[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(path.join(projectDir, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'migrations') await walk(rel);
      } else if (SOURCE_EXT.test(e.name) && !/\.d\.ts$/.test(e.name)) {
        out.push({ file: rel, text: await readFile(path.join(projectDir, rel), 'utf8') });
      }
    }
  };
  for (const d of SOURCE_DIRS) await walk(d);
  return out;
}

/** The keys of `const envSchema = z.object({ … })` in worker/config/env.ts. */
function schemaKeys(configSource: string): string[] {
  const start = configSource.search(/const envSchema = z\.object\(\{/);
  if (start === -1) throw new Error('worker/config/env.ts: no `const envSchema = z.object({` (update this test)');
  const end = configSource.indexOf('\n});', start);
  const body = configSource.slice(start, end);
  return [...body.matchAll(new RegExp(`^\\s{2}(${NAME})\\s*:`, 'gm'))].map((m) => m[1]!);
}

/** Name → the files that read it. */
function envReads(files: Source[]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const add = (name: string, file: string) => {
    if (!found.has(name)) found.set(name, new Set());
    found.get(name)!.add(file);
  };
  for (const { file, text } of files) {
    for (const re of READS) {
      for (const m of text.matchAll(re)) {
        if (re.source.startsWith('\\{')) {
          for (const part of m[1]!.split(',')) {
            const name = part.split(':')[0]!.trim();
            if (new RegExp(`^${NAME}$`).test(name)) add(name, file);
          }
        } else {
          add(m[1]!, file);
        }
      }
    }
    if (file === path.join('worker', 'config', 'env.ts')) for (const k of schemaKeys(text)) add(k, `${file} (env schema)`);
  }
  return found;
}

const documented = (name: string, docs: string) => new RegExp(`\`${name}(=[^\`]*)?\``).test(docs);

async function docsText(): Promise<string> {
  const texts = await Promise.all(DOCS.map((d) => readFile(path.join(projectDir, d), 'utf8').catch(() => '')));
  return texts.join('\n');
}

describe('environment variables', () => {
  it('the scan finds the reads of every kind', async () => {
    const found = envReads(await sources());
    // One of each: process.env.X, env.X on a passed-in ProcessEnv, a schema key, a .mjs helper.
    expect(found.get('ORCH_API_TOKEN')).toContain(path.join('bin', 'orch.ts'));
    expect(found.get('XDG_CACHE_HOME')).toContain(path.join('worker', 'temporal', 'executables.ts'));
    expect(found.get('ORCH_WORKER_METRICS_ADDRESS')).toContain(`${path.join('worker', 'config', 'env.ts')} (env schema)`);
    expect(found.get('PLANE_BOT_USER_ID')).toContain(`${path.join('worker', 'config', 'env.ts')} (env schema)`);
    expect(found.get('ORCH_PROMPT_FILE')).toContain(path.join('bin', 'test-agent.mjs'));
    expect(found.size).toBeGreaterThanOrEqual(40);
  });

  it('the check names a variable no doc mentions', async () => {
    const fake: Source[] = [
      { file: 'x.ts', text: "const a = process.env.ORCH_SURELY_NOT_DOCUMENTED; const b = env['ORCH_NOR_THIS']; const { ORCH_NOR_THAT: c } = process.env;" },
    ];
    const docs = await docsText();
    const missing = [...envReads(fake).keys()].filter((n) => !documented(n, docs));
    expect(missing.sort()).toEqual(['ORCH_NOR_THAT', 'ORCH_NOR_THIS', 'ORCH_SURELY_NOT_DOCUMENTED']);
    // And a documented one passes.
    expect(documented('ORCH_CONFIG', docs)).toBe(true);
  });

  it('every variable the code reads is documented in README.md or docs/deploy.md', async () => {
    const found = envReads(await sources());
    const docs = await docsText();
    const missing = [...found]
      .filter(([name]) => !documented(name, docs))
      .map(([name, files]) => `${name} (read in ${[...files].join(', ')})`)
      .sort();
    expect(missing, `undocumented environment variables; add them to docs/deploy.md:\n  ${missing.join('\n  ')}`).toEqual([]);
  });
});
