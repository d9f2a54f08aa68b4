// The agent sandbox's acceptance (issue 12, items 1-3 and 7) with the real Claude Code CLI: the
// scripted model has it run each command through its own Bash tool (every command in a session of
// its own), inside orch's bwrap sandbox; what the commands printed is read from orch's transcript.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { OUTPUT_MARK } from '../../activities/adapters/agents/claude-code.js';
import { startScriptedModel, type ScriptedModel } from '../../worker/harness/scripted-model/server.js';
import { CLAUDE_BIN } from '../agents/cli.js';
import { sandboxAcceptance, type SandboxedAgent } from '../support/sandbox-acceptance.js';

let model: ScriptedModel | undefined;
beforeAll(async () => {
  model = await startScriptedModel();
});
afterAll(async () => model?.close());

const keep = 'node -e "setInterval(() => {}, 1e6)"';

const CLAUDE_CODE: SandboxedAgent = {
  name: 'the real Claude Code CLI',
  agentYaml: (passEnv) => `agent:
  adapter: claude-code
  command: ${JSON.stringify(CLAUDE_BIN)}
  env: { ANTHROPIC_BASE_URL: ${JSON.stringify(model!.url)}, ANTHROPIC_API_KEY: sk-ant-scripted }
  passEnv: ${JSON.stringify(passEnv)}
`,
  script: (commands, { hang } = {}) => {
    const lines = commands.map((c) => `@model run=${c}`);
    if (hang === 'always') lines.push(`@model run=${keep}`);
    if (hang === 'first-attempt') lines.push(`@model run=[ "$ORCH_ATTEMPT" != 1 ] || ${keep}`);
    lines.push('@model run=mkdir -p "docs/tasks/$ORCH_TASK_KEY" && echo done > "docs/tasks/$ORCH_TASK_KEY/development.md"');
    return lines.join('\n');
  },
  agentPids: (key) =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]!.endsWith('/claude') && readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`ORCH_TASK_KEY=${key}`);
        } catch {
          return false;
        }
      })
      .map(Number),
  outputOf: (log) =>
    log
      .split('\n')
      .filter((l) => l.slice(9).startsWith(OUTPUT_MARK))
      .map((l) => l.slice(9 + OUTPUT_MARK.length))
      .join('\n'),
};

sandboxAcceptance(CLAUDE_CODE, { only: 'processes' });
