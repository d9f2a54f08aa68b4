// Incremental JSONL splitting with bounded memory, shared by the agent stream parsers.
//
// Chunks arrive as the agent writes them (strings, or bytes decoded as UTF-8 across chunk
// boundaries). Complete lines come out as they end. A line longer than `maxLineLength` characters is
// not kept: from the moment it crosses the cap its text is dropped and only its length is counted,
// and once it ends it is reported as `{ tooLong: length }`. So memory stays at about one cap's worth
// whatever the agent prints.

/** 4 MiB of text: far above any event line seen from Claude Code or Codex (a few KB), yet bounded. */
export const DEFAULT_MAX_LINE_LENGTH = 4 * 1024 * 1024;

export type SplitLine = { line: string } | { tooLong: number };

export class LineSplitter {
  readonly #max: number;
  readonly #decoder = new TextDecoder('utf-8');
  #pending = '';
  /** Length of the line being dropped, or -1 while the current line is kept. */
  #overflow = -1;

  constructor(maxLineLength = DEFAULT_MAX_LINE_LENGTH) {
    if (!(maxLineLength > 0)) throw new Error(`maxLineLength must be positive, got ${maxLineLength}`);
    this.#max = maxLineLength;
  }

  /** The lines `chunk` completes, in order. */
  push(chunk: string | Uint8Array): SplitLine[] {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const out: SplitLine[] = [];
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline < 0) {
        this.#append(text.slice(start));
        return out;
      }
      this.#append(text.slice(start, newline));
      this.#finish(out);
      start = newline + 1;
    }
  }

  /** The last line, if the stream ended without a newline. */
  end(): SplitLine[] {
    const out: SplitLine[] = [];
    this.#append(this.#decoder.decode());
    if (this.#pending || this.#overflow >= 0) this.#finish(out);
    return out;
  }

  #append(piece: string): void {
    if (!piece) return;
    if (this.#overflow >= 0) this.#overflow += piece.length;
    else if (this.#pending.length + piece.length > this.#max) {
      this.#overflow = this.#pending.length + piece.length;
      this.#pending = '';
    } else this.#pending += piece;
  }

  #finish(out: SplitLine[]): void {
    if (this.#overflow >= 0) {
      out.push({ tooLong: this.#overflow });
      this.#overflow = -1;
      return;
    }
    const line = this.#pending.endsWith('\r') ? this.#pending.slice(0, -1) : this.#pending;
    this.#pending = '';
    if (line.trim()) out.push({ line });
  }
}

/** Why a line did not become an event. */
export interface ParseError {
  type: 'parseError';
  reason: 'line-too-long' | 'not-json' | 'not-an-event';
  /** Length of the offending line in characters. */
  length: number;
  /** Its first 200 characters (empty for a line too long: its text was not kept). */
  excerpt: string;
}

/** Parses one line as a JSON object with a string `type`, or says why not. */
export function jsonObject(line: string): { object: Record<string, unknown> } | { error: ParseError } {
  const error = (reason: ParseError['reason']) => ({ error: { type: 'parseError', reason, length: line.length, excerpt: line.slice(0, 200) } as const });
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return error('not-json');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return error('not-an-event');
  }
  return { object: value as Record<string, unknown> };
}

export const tooLong = (length: number): ParseError => ({ type: 'parseError', reason: 'line-too-long', length, excerpt: '' });

/** A line-by-line parser over a LineSplitter: `parseLine` turns one JSON object into events. */
export class StreamParser<Event> {
  readonly #splitter: LineSplitter;
  readonly #parseLine: (object: Record<string, unknown>) => Event | undefined;

  constructor(parseLine: (object: Record<string, unknown>) => Event | undefined, maxLineLength?: number) {
    this.#splitter = new LineSplitter(maxLineLength);
    this.#parseLine = parseLine;
  }

  push(chunk: string | Uint8Array): (Event | ParseError)[] {
    return this.#convert(this.#splitter.push(chunk));
  }

  end(): (Event | ParseError)[] {
    return this.#convert(this.#splitter.end());
  }

  #convert(lines: SplitLine[]): (Event | ParseError)[] {
    const events: (Event | ParseError)[] = [];
    for (const split of lines) {
      if ('tooLong' in split) {
        events.push(tooLong(split.tooLong));
        continue;
      }
      const parsed = jsonObject(split.line);
      if ('error' in parsed) {
        events.push(parsed.error);
        continue;
      }
      const event = this.#parseLine(parsed.object);
      if (event !== undefined) events.push(event);
    }
    return events;
  }
}

// Small readers for untrusted JSON: a wrong type reads as absent, never as a crash.
export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
export const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
export const bool = (value: unknown): boolean | undefined => (typeof value === 'boolean' ? value : undefined);
export const obj = (value: unknown): Record<string, unknown> | undefined =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
export const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
