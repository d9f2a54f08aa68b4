// What orch needs from an agent CLI: how to start it unattended with the prompt on stdin, and how to
// read what it reports while it runs. One adapter per CLI (claude-code, codex) plus `command`, any
// program, which reports nothing but its output.
import type { AgentAdapterName, AgentFailure, AgentProgress, PriceTable, Usage } from '../../../workflows/contracts/index.js';

export interface LaunchContext {
  /** The config's command and arguments, rendered. */
  command: string;
  args: string[];
  /** The run's private HOME (per task and host, kept across attempts). */
  home: string;
  /** The session of the previous attempt on this host, when `agent.resume` is on. */
  resumeSession?: string;
  /** What this attempt may spend. */
  budget?: { maxCostUsd?: number; maxTokens?: number };
  /** true when orch's sandbox contains the run (the CLI's own sandbox is then redundant). */
  sandboxed: boolean;
}

export interface AgentInvocation {
  command: string;
  args: string[];
  /** Environment the adapter adds (the config's `env` still wins). */
  env: Record<string, string>;
}

/** The end of a run as its events tell it. */
export interface AgentReport {
  usage?: Usage;
  failure?: AgentFailure;
  sessionId?: string;
  model?: string;
}

export interface AgentMonitor {
  /** Raw output as the agent wrote it; returns readable transcript lines. */
  consume(chunk: Buffer): string[];
  /** Reads side channels (Codex's session file); called on every tick. */
  poll?(): Promise<string[]>;
  /** At EOF: the last lines. */
  end(): string[];
  /** Live: turns, last tool, usage so far. */
  progress(): AgentProgress;
  /** What the events say about the run's end. */
  report(): AgentReport;
}

export interface AgentAdapter {
  name: AgentAdapterName;
  /** true when the agent prints events: its raw output is kept apart from the readable transcript. */
  events: boolean;
  launch(ctx: LaunchContext): Promise<AgentInvocation>;
  monitor(ctx: { home: string; prices: PriceTable; startedAt: Date }): AgentMonitor;
}

/** A line of a transcript: one short line per event, long text cut. */
export function clip(text: string, max = 400): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
