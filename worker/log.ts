// Structured JSON logs (pino). Every line names its process; task lines carry the task key.
import { pino, type Logger } from 'pino';

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid, name } });
}
export type { Logger };
