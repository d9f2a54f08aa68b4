// The quality gate that decides whether an agent stage passed.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { GateSpec, HostActivities } from '../../workflows/contracts/index.js';
import { renderTemplate } from '../adapters/template.js';
import { hostPaths, type ActivityDeps } from '../deps.js';

export function createGateActivities(deps: Pick<ActivityDeps, 'dataDir' | 'hostId'>): Pick<HostActivities, 'runGate'> {
  const paths = hostPaths(deps);
  return {
    async runGate({ key, repo, stage, gate }) {
      const worktree = paths.worktree(key);
      const vars = { key, stage, repo, worktree, title: '', description: '', attempt: '' };
      return evaluateGate(gate, worktree, vars);
    },
  };
}

export async function evaluateGate(gate: GateSpec, worktree: string, vars: Record<string, string>): Promise<{ passed: boolean; detail: string }> {
  switch (gate.type) {
    case 'none':
      return { passed: true, detail: 'no gate' };
    case 'file-exists': {
      const rel = renderTemplate(gate.path, vars);
      const file = path.resolve(worktree, rel);
      if (!file.startsWith(path.resolve(worktree) + path.sep)) return { passed: false, detail: `${rel} is outside the worktree` };
      const s = await stat(file).catch(() => null);
      return s?.isFile() ? { passed: true, detail: `${rel} exists` } : { passed: false, detail: `${rel} does not exist` };
    }
    case 'command': {
      const res = await execa(renderTemplate(gate.command, vars), gate.args.map((a) => renderTemplate(a, vars)), {
        cwd: worktree,
        reject: false,
        all: true,
        timeout: 10 * 60_000,
      });
      const tail = (res.all ?? '').trim().split('\n').slice(-5).join('\n');
      return res.exitCode === 0
        ? { passed: true, detail: `${gate.command} passed` }
        : { passed: false, detail: `${gate.command} exited ${res.exitCode ?? res.signal}${tail ? `: ${tail}` : ''}` };
    }
  }
}
