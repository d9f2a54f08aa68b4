// Reads a file another process is still writing, from where the last read stopped. The agent writes
// its output straight into a file (so the output outlives the worker); orch follows that file to
// learn what the agent does. Bounded: one chunk of at most `chunkBytes` at a time, however much has
// piled up.
import { open, type FileHandle } from 'node:fs/promises';

/**
 * 256 KiB. Measured in B6 (docs/benchmarks.md): with 1 MiB chunks the watcher's peak memory grew
 * with the size of a long line (each chunk's decoded text is over Node's ~1 MB threshold for external
 * strings, which V8 reclaims only once tens of MB of them are outstanding); with 256 KiB it stays flat.
 */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export class FileFollower {
  readonly path: string;
  #offset: number;
  #handle: FileHandle | null = null;
  readonly #buffer: Buffer;

  /** `from`: the byte offset to start at (the file's size at start skips what an earlier run wrote). */
  constructor(path: string, options: { from?: number; chunkBytes?: number } = {}) {
    this.path = path;
    this.#offset = options.from ?? 0;
    this.#buffer = Buffer.alloc(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  get offset(): number {
    return this.#offset;
  }

  /**
   * The bytes written since the last call, one chunk of at most `chunkBytes` at a time (none when
   * nothing is new, or the file does not exist yet). The next chunk is read only once the caller asks
   * for it, so a backlog of any size is never held in memory at once.
   */
  async *chunks(): AsyncGenerator<Buffer> {
    if (!this.#handle) {
      this.#handle = await open(this.path, 'r').catch(() => null);
      if (!this.#handle) return;
    }
    for (;;) {
      const { bytesRead } = await this.#handle.read(this.#buffer, 0, this.#buffer.length, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      yield Buffer.from(this.#buffer.subarray(0, bytesRead));
      if (bytesRead < this.#buffer.length) return;
    }
  }

  async close(): Promise<void> {
    await this.#handle?.close().catch(() => undefined);
    this.#handle = null;
  }
}
