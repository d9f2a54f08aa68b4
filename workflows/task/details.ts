// The Web UI's view of a task: the Orch* search attributes and the markdown current details.
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { orchSearchAttributes, progressText, usageText, type TaskInput, type TaskState } from '../contracts/index.js';

export function showIdentity(input: TaskInput): void {
  upsertSearchAttributes([
    { key: orchSearchAttributes.taskKey, value: input.key },
    { key: orchSearchAttributes.repo, value: input.repo },
  ]);
}

export function showProgress(input: TaskInput, state: TaskState, waitingFor: readonly string[]): void {
  upsertSearchAttributes([
    { key: orchSearchAttributes.stage, value: state.stage ?? (state.status === 'running' ? 'starting' : state.status) },
    { key: orchSearchAttributes.status, value: state.status },
  ]);
  const attempt = state.history.at(-1);
  const lines = [
    `**${input.key}** — ${input.title}`,
    '',
    `- status: \`${state.status}\`${state.stage ? `, stage: \`${state.stage}\`` : ''}${attempt && attempt.stage === state.stage ? ` (attempt ${attempt.attempt})` : ''}`,
    `- host: ${state.host ?? '—'}`,
  ];
  if (state.progress && state.progress.stage === state.stage) lines.push(`- agent: ${progressText(state.progress)}`);
  if (state.usage && (state.usage.turns || state.usage.inputTokens)) lines.push(`- spent: ${usageText(state.usage)}`);
  if (state.stage === 'waiting') lines.push(`- waiting for: ${waitingFor.join(', ')}`);
  if (state.waitingFor === 'approval') {
    lines.push(`- **waiting for approval** of ${state.stage} since ${state.waitingSince}; approve with \`orch approve ${input.key}\`, or reject with \`orch reject ${input.key} --comment "…"\``);
  }
  if (state.inCriticalWindow) lines.push('- in a critical window: a STOP now is applied after this step');
  if (state.pendingStop && state.status === 'running') {
    lines.push(`- **STOP pending** since ${state.pendingStop.requestedAt}: ${state.pendingStop.reason ?? 'no reason given'}`);
  }
  if (state.failureReason) lines.push(`- failure: ${state.failureReason}`);
  lines.push(`- details: \`GET /api/tasks/${input.key}\``);
  setCurrentDetails(lines.join('\n'));
}
