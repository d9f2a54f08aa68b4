// What every command gets: the API client, and the wrapper that turns its result into the exit code.
import type { ApiClient } from '../api-client.js';

export interface CommandContext {
  api: ApiClient;
  /** Wraps a command's action: a number it returns becomes the process's exit code. */
  action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void>;
}
