// An expected failure of the CLI: one line on stderr, no stack, and its exit code.

export const EXIT = {
  ok: 0,
  /** The API said no, or the watched task failed. */
  refused: 1,
  /** The watched task was cancelled. */
  cancelled: 2,
  /** The API cannot be reached (or its stream broke off). */
  unreachable: 3,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
    /** The HTTP status, when the API answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}
