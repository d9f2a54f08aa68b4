import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../activities/adapters/template.js';
import { loadPipelineConfig, parsePipelineConfig } from '../../worker/config/pipeline.js';
import { PipelineConfigError } from '../../worker/config/pipeline-errors.js';
import { projectDir } from '../../worker/config/project-dir.js';
const vars = { dataDir: '/var/orch', projectDir: '/opt/orch' };

const MINIMAL = `
agent:
  command: node
  args: ["{{projectDir}}/agent.mjs", "--stage", "{{stage}}"]
repos:
  demo:
    remote: "{{dataDir}}/remotes/demo.git"
`;

const parse = (yaml: string) => parsePipelineConfig(yaml, vars, 'orch.yaml');

/** The error parsing `yaml` throws; fails the test if it parses. */
function errorOf(yaml: string): PipelineConfigError {
  try {
    parse(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineConfigError);
    return err as PipelineConfigError;
  }
  throw new Error('expected the config to be rejected');
}

/** MINIMAL plus a stages list. */
const withStages = (stages: string) => `${MINIMAL}stages:\n${stages}`;
const GATE = '{ type: file-exists, path: "docs/{{key}}.md" }';

describe('the shipped orch.yaml', () => {
  it('loads, with load-time placeholders filled and run-time ones kept', async () => {
    const config = await loadPipelineConfig(path.join(projectDir, 'orch.yaml'), vars);
    const demo = config.repos.demo;
    expect(demo?.name).toBe('demo');
    expect(demo?.remote).toBe('/var/orch/remotes/demo.git');
    expect(demo?.forge).toEqual({ type: 'local' });
    expect(demo?.deploy?.command).toBe('node');
    expect(demo?.deploy?.args).toEqual([
      '/opt/orch/bin/demo-deploy.mjs',
      '--log',
      '/var/orch/deploys/demo.log',
      '--key',
      '{{key}}',
      '--sha',
      '{{sha}}',
    ]);
    expect(config.agent.args).toEqual(['/opt/orch/bin/test-agent.mjs', '--stage', '{{stage}}']);
    expect(config.stages.map((s) => s.name)).toEqual(['analysis', 'design', 'development', 'review', 'merge', 'deploy']);
  });

  it('has a commented custom-stages example that is itself valid', async () => {
    const text = await readFile(path.join(projectDir, 'orch.yaml'), 'utf8');
    const example = text.slice(text.indexOf('# stages:')).replace(/^# ?/gm, '');
    const config = parse(`${MINIMAL}${example}`);
    expect(config.stages.map((s) => s.kind)).toEqual(['agent', 'agent', 'merge', 'deploy']);
    expect(config.stages[1]).toMatchObject({ gate: { type: 'command', command: 'npm', args: ['test'] }, attempts: 3 });
  });

  it('names the file when it cannot be read', async () => {
    const missing = path.join(tmpdir(), 'orch-no-such-dir', 'orch.yaml');
    await expect(loadPipelineConfig(missing, vars)).rejects.toThrow(`${missing}: cannot read the pipeline config: no such file`);
  });
});

describe('defaults', () => {
  const config = parse(MINIMAL);

  it('fill in timeouts, limits and repo settings', () => {
    expect(config.timeouts).toEqual({ stage: '30m', heartbeat: '30s', idle: '5m', merge: '10m', deploy: '15m' });
    expect(config.sandbox).toEqual({ mode: 'auto', network: 'host', readOnly: [], writable: [] });
    expect(config.prices).toEqual({});
    expect(config.budget).toBeUndefined();
    expect(config.attemptsPerStage).toBe(2);
    expect(config.maxConcurrentAgents).toBe(4);
    expect(config.agent.env).toEqual({});
    expect(config.repos.demo).toEqual({
      name: 'demo',
      remote: '/var/orch/remotes/demo.git',
      defaultBranch: 'main',
      forge: { type: 'local' },
      serial: false,
      protectedBranches: [],
    });
  });

  it('give the six-stage pipeline with file-exists gates and prompts carrying the task', () => {
    expect(config.stages.map((s) => [s.name, s.kind])).toEqual([
      ['analysis', 'agent'],
      ['design', 'agent'],
      ['development', 'agent'],
      ['review', 'agent'],
      ['merge', 'merge'],
      ['deploy', 'deploy'],
    ]);
    for (const stage of config.stages.filter((s) => s.kind === 'agent')) {
      expect(stage.gate).toEqual({ type: 'file-exists', path: `docs/tasks/{{key}}/${stage.name}.md` });
      expect(stage.prompt).toContain('{{title}}');
      expect(stage.prompt).toContain('{{description}}');
      expect(stage.prompt).toContain(`docs/tasks/{{key}}/${stage.name}.md`);
      expect(stage).toMatchObject({ agent: config.agent, attempts: 2, timeout: '30m' });
    }
    for (const stage of config.stages.filter((s) => s.kind !== 'agent')) {
      expect(stage).toEqual({ name: stage.kind, kind: stage.kind, gate: { type: 'none' } });
    }
  });

  it('make kind default to agent and merge/deploy names default to their kind; stage overrides win', () => {
    const custom = parse(
      withStages(`
  - { name: build, prompt: "do {{title}}", gate: ${GATE}, attempts: 5, timeout: 1h, agent: { command: claude } }
  - kind: merge
  - kind: deploy
`),
    );
    expect(custom.stages).toEqual([
      {
        name: 'build',
        kind: 'agent',
        prompt: 'do {{title}}',
        gate: { type: 'file-exists', path: 'docs/{{key}}.md' },
        attempts: 5,
        timeout: '1h',
        agent: { adapter: 'command', command: 'claude', args: [], env: {}, passEnv: [], resume: false },
      },
      { name: 'merge', kind: 'merge', gate: { type: 'none' } },
      { name: 'deploy', kind: 'deploy', gate: { type: 'none' } },
    ]);
  });

  it('accept a complete gitea forge', () => {
    const config = parse(`${MINIMAL}    forge: { type: gitea, baseUrl: "https://git.example.com", owner: acme, repo: demo, tokenEnv: GITEA_TOKEN }\n`);
    expect(config.repos.demo?.forge).toEqual({
      type: 'gitea',
      baseUrl: 'https://git.example.com',
      owner: 'acme',
      repo: 'demo',
      tokenEnv: 'GITEA_TOKEN',
    });
  });
});

describe('rejected input', () => {
  it('an unknown top-level key, naming the key and the file', () => {
    const err = errorOf(`${MINIMAL}maxAgents: 3\n`);
    expect(err.message).toMatch(/^orch\.yaml: maxAgents: unknown key; expected one of: agent, budget, prices, sandbox, timeouts, /);
    expect(err.issues).toEqual([expect.objectContaining({ path: 'maxAgents', line: 8, column: 1 })]);
  });

  it('an unknown nested key', () => {
    const err = errorOf(`${MINIMAL}    forge: { type: local, url: x }\n`);
    expect(err.message).toContain('orch.yaml: repos.demo.forge.url: unknown key');
  });

  it('a bad duration', () => {
    const err = errorOf(`${MINIMAL}timeouts: { heartbeat: 30 seconds }\n`);
    expect(err.message).toContain('orch.yaml: timeouts.heartbeat: "30 seconds" is not a duration like 30s, 5m, 250ms');
  });

  it('a heartbeat no shorter than the stage timeout', () => {
    const err = errorOf(`${MINIMAL}timeouts: { stage: 1m, heartbeat: 60s }\n`);
    expect(err.message).toContain('timeouts.heartbeat: must be shorter than timeouts.stage (1m)');
  });

  it('out-of-range numbers', () => {
    const err = errorOf(`${MINIMAL}attemptsPerStage: 21\nmaxConcurrentAgents: 0\n`);
    expect(err.message).toContain('attemptsPerStage: must be a whole number from 1 to 20, got 21');
    expect(err.message).toContain('maxConcurrentAgents: must be a whole number from 1 to 256, got 0');
  });

  it('a bad forge type', () => {
    const err = errorOf(`${MINIMAL}    forge: { type: github }\n`);
    expect(err.message).toContain('orch.yaml: repos.demo.forge.type: expected "local" or "gitea", got "github"');
  });

  it('a gitea forge missing fields', () => {
    const err = errorOf(`${MINIMAL}    forge: { type: gitea, baseUrl: "not a url", owner: acme }\n`);
    expect(err.message).toContain('repos.demo.forge.baseUrl: "not a url" is not an http(s) URL');
    expect(err.message).toContain('repos.demo.forge.repo: is required');
    expect(err.message).toContain('repos.demo.forge.tokenEnv: is required');
  });

  it('a bad repo name', () => {
    const err = errorOf(`${MINIMAL}  Demo_2: { remote: x }\n`);
    expect(err.message).toContain('repos.Demo_2: "Demo_2" is not a repo name');
  });

  it('duplicate stage names', () => {
    const err = errorOf(
      withStages(`
  - { name: build, prompt: p, gate: ${GATE} }
  - { name: build, prompt: p, gate: ${GATE} }
`),
    );
    expect(err.message).toContain('orch.yaml: stages[1].name: "build" is already the name of stages[0]');
  });

  it('a bad stage name', () => {
    const err = errorOf(withStages(`  - { name: Build, prompt: p, gate: ${GATE} }\n`));
    expect(err.message).toContain('stages[0].name: "Build" is not a stage name');
  });

  it('merge after deploy', () => {
    const err = errorOf(
      withStages(`
  - { name: build, prompt: p, gate: ${GATE} }
  - { kind: deploy }
  - { kind: merge }
`),
    );
    expect(err.message).toContain('orch.yaml: stages[2].kind: the merge stage must come before the deploy stage at stages[1]');
  });

  it('an agent stage after merge, a second merge, deploy without merge', () => {
    const afterMerge = errorOf(
      withStages(`
  - { kind: merge }
  - { name: build, prompt: p, gate: ${GATE} }
`),
    );
    expect(afterMerge.message).toContain('stages[1].kind: agent stage "build" comes after the merge stage at stages[0]');

    const twoMerges = errorOf(withStages(`  - { name: a, prompt: p, gate: ${GATE} }\n  - kind: merge\n  - kind: merge\n`));
    expect(twoMerges.message).toContain('stages[2].kind: only one merge stage is allowed');

    const noMerge = errorOf(withStages(`  - { name: a, prompt: p, gate: ${GATE} }\n  - kind: deploy\n`));
    expect(noMerge.message).toContain('stages[1].kind: a deploy stage needs a merge stage before it');
  });

  it('an agent stage without a gate, or with gate none', () => {
    const missing = errorOf(withStages('  - { name: build, prompt: p }\n'));
    expect(missing.message).toContain('orch.yaml: stages[0].gate: is required: an agent exiting 0 does not prove the stage succeeded');

    const none = errorOf(withStages('  - { name: build, prompt: p, gate: { type: none } }\n'));
    expect(none.message).toContain('stages[0].gate.type: "none" is only for merge and deploy stages');
  });

  it('a gate on a merge stage', () => {
    const err = errorOf(withStages(`  - { name: a, prompt: p, gate: ${GATE} }\n  - { kind: merge, gate: { type: none } }\n`));
    expect(err.message).toContain('stages[1].gate: unknown key; a merge stage takes only name and kind');
  });

  it('an unknown placeholder, listing the allowed ones', () => {
    const err = errorOf(withStages('  - { name: build, prompt: "fix {{ticket}}", gate: { type: file-exists, path: x } }\n'));
    expect(err.message).toContain(
      'orch.yaml: stages[0].prompt: unknown placeholder {{ticket}}; use {{dataDir}}, {{projectDir}}, {{key}}, {{stage}}, {{title}}, {{description}}, {{repo}}, {{worktree}}, {{attempt}}, {{lastFailure}} or {{promptFile}}',
    );
  });

  it('a run-time placeholder where only load-time ones work', () => {
    const err = errorOf(MINIMAL.replace('remotes/demo.git', '{{key}}.git'));
    expect(err.message).toContain('repos.demo.remote: {{key}} is not available in a remote');
  });

  it('a YAML syntax error, with line and column', () => {
    const err = errorOf('agent:\n  command: node\n  args: [a, b\nrepos: {}\n');
    expect(err.issues[0]).toMatchObject({ path: '', line: expect.any(Number), column: expect.any(Number) });
    expect(err.message).toMatch(/^orch\.yaml: YAML syntax error: .+ \(line \d+, column \d+\)/);
  });

  it('an empty file', () => {
    expect(errorOf('').message).toBe('orch.yaml: the file is empty; it needs at least agent and repos');
  });

  it('reports every problem at once, in file order, with positions', () => {
    const err = errorOf(`
agent: { command: node, shell: true }
timeouts: { stage: soon }
repos:
  demo: { remote: x, serial: "yes" }
`);
    expect(err.issues.map((i) => [i.path, i.line])).toEqual([
      ['agent.shell', 2],
      ['timeouts.stage', 3],
      ['repos.demo.serial', 5],
    ]);
    expect(err.message.split('\n')).toHaveLength(3);
    expect(err.message).toContain('repos.demo.serial: expected true or false, got "yes" (line 5, column 22)');
  });
});

describe('renderTemplate', () => {
  it('fills every placeholder, tolerating spaces inside the braces', () => {
    expect(renderTemplate('{{key}}: {{ title }} ({{key}})', { key: 'T-1', title: 'Fix it' })).toBe('T-1: Fix it (T-1)');
  });

  it('does not re-expand placeholders inside values', () => {
    expect(renderTemplate('{{a}}', { a: '{{b}}', b: 'x' })).toBe('{{b}}');
  });

  it('throws naming every missing placeholder', () => {
    expect(() => renderTemplate('{{key}} {{title}} {{stage}}', { key: 'T-1' })).toThrow(
      /needs \{\{title\}\}, \{\{stage\}\}; given: \{\{key\}\}/,
    );
  });
});

describe('bin/demo-deploy.mjs', () => {
  it('appends "<time> <key> <sha>" to the log, creating its directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'orch-deploy-'));
    try {
      const log = path.join(dir, 'deploys', 'demo.log');
      const script = path.join(projectDir, 'bin', 'demo-deploy.mjs');
      const run = promisify(execFile);
      await run(process.execPath, [script, '--log', log, '--key', 'T-1']);
      await run(process.execPath, [script, '--log', log, '--key', 'T-2', '--sha', 'abc123', '--sleep', '0.05']);
      const lines = (await readFile(log, 'utf8')).trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z T-1$/);
      expect(lines[1]).toMatch(/^\S+Z T-2 abc123$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the agent configs docs/pipeline-config.md shows', () => {
  const blocks = async () => {
    const doc = await readFile(path.join(projectDir, 'docs', 'pipeline-config.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## A minimal file'), doc.indexOf('## Top level'));
    return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  };

  it('load, with the adapter\'s command, passEnv and prices as written', async () => {
    const [claude, codex] = (await blocks()).map(parse);
    expect(claude?.agent).toEqual({ adapter: 'claude-code', command: 'claude', args: [], env: {}, passEnv: ['ANTHROPIC_API_KEY'], resume: false });
    expect(codex?.agent).toMatchObject({ adapter: 'codex', command: 'codex', passEnv: ['OPENAI_API_KEY'] });
    expect(codex?.prices['gpt-5-codex']).toEqual({ input: 1.25, cachedInput: 0.125, output: 10 });
  });

  it('reject a command agent without a command, a bad adapter, a budget of 0 and an unknown sandbox mode', () => {
    const err = errorOf(`agent: { adapter: command }\nbudget: { maxCostUsd: 0 }\nsandbox: { mode: docker }\nrepos: { demo: { remote: /r.git } }\n`);
    expect(err.issues.map((i) => [i.path, i.message])).toEqual([
      ['agent.command', 'is required for the "command" adapter (claude-code and codex default to their CLI)'],
      ['budget.maxCostUsd', 'must be more than 0'],
      ['sandbox.mode', '"docker" is not a sandbox mode; use "auto", "bwrap" or "none"'],
    ]);
    expect(errorOf(`agent: { adapter: aider }\nrepos: { demo: { remote: /r.git } }\n`).message).toContain('"aider" is not an adapter; use "command", "claude-code" or "codex"');
  });
});

describe('approval stages and rework loops', () => {
  it('the documented example pipeline loads as written', async () => {
    const config = await loadPipelineConfig(path.join(projectDir, 'docs', 'examples', 'reviewed-pipeline.yaml'), vars);
    expect(config.stages.map((s) => [s.name, s.kind])).toEqual([
      ['design', 'agent'],
      ['design-approval', 'approval'],
      ['development', 'agent'],
      ['review', 'agent'],
      ['merge-approval', 'approval'],
      ['merge', 'merge'],
      ['deploy', 'deploy'],
    ]);
    expect(config.stages[1]).toMatchObject({ timeout: '7d', remind: '1d', timeoutAction: 'fail', onReject: { goto: 'design' }, gate: { type: 'none' } });
    expect(config.stages[3]).toMatchObject({ attempts: 1, onFail: { goto: 'development', maxLoops: 2 } });
  });

  it('a loop must go back to an earlier stage of the right kind, and no approval comes after deploy', () => {
    const err = errorOf(
      withStages(`  - { name: build, prompt: p, gate: ${GATE}, onFail: { goto: later, maxLoops: 1 } }
  - { name: ok, kind: approval, onReject: { goto: nowhere } }
  - { name: later, prompt: p, gate: ${GATE}, onFail: { goto: ok, maxLoops: 1 } }
  - { kind: merge }
  - { kind: deploy }
  - { name: late, kind: approval }
`),
    );
    expect(err.issues.map((i) => [i.path, i.message])).toEqual([
      ['stages[0].onFail.goto', 'must name an earlier stage; "later" is stages[2]'],
      ['stages[1].onReject.goto', 'no stage is named "nowhere"'],
      ['stages[2].onFail.goto', 'must name an agent stage; "ok" is an approval stage'],
      ['stages[5].kind', 'approval stage "late" comes after the deploy stage at stages[4]; nothing is left to approve'],
    ]);
  });
});
