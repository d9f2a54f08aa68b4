/** A bad environment: the message names the variable, and start-up prints it without a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
