// The agent adapters by name (`agent.adapter` in orch.yaml).
import type { AgentAdapterName } from '../../../workflows/contracts/index.js';
import type { AgentAdapter } from './adapter.js';
import { claudeCodeAdapter } from './claude-code.js';
import { codexAdapter } from './codex.js';
import { commandAdapter } from './command.js';

export type { AgentAdapter, AgentMonitor, AgentReport, LaunchContext } from './adapter.js';

const ADAPTERS: Record<AgentAdapterName, AgentAdapter> = {
  command: commandAdapter,
  'claude-code': claudeCodeAdapter,
  codex: codexAdapter,
};

export const adapterFor = (name: AgentAdapterName | undefined): AgentAdapter => ADAPTERS[name ?? 'command'];
