// Reads a file another process is still writing, from where the last read stopped. The agent writes
// its output straight into a file (so the output outlives the worker); orch follows that file to
// learn what the agent does. Bounded: at most `chunkBytes` per read, however much has piled up.
import { open, type FileHandle } from 'node:fs/promises';

export class FileFollower {
  readonly path: string;
  #offset: number;
  #handle: FileHandle | null = null;
  readonly #buffer: Buffer;

  /** `from`: the byte offset to start at (the file's size at start skips what an earlier run wrote). */
  constructor(path: string, options: { from?: number; chunkBytes?: number } = {}) {
    this.path = path;
    this.#offset = options.from ?? 0;
    this.#buffer = Buffer.alloc(options.chunkBytes ?? 1 << 20);
  }

  get offset(): number {
    return this.#offset;
  }

  /** The bytes written since the last call (empty when nothing new, or the file does not exist yet). */
  async read(): Promise<Buffer[]> {
    if (!this.#handle) {
      this.#handle = await open(this.path, 'r').catch(() => null);
      if (!this.#handle) return [];
    }
    const chunks: Buffer[] = [];
    for (;;) {
      const { bytesRead } = await this.#handle.read(this.#buffer, 0, this.#buffer.length, this.#offset);
      if (bytesRead === 0) return chunks;
      this.#offset += bytesRead;
      chunks.push(Buffer.from(this.#buffer.subarray(0, bytesRead)));
      if (bytesRead < this.#buffer.length) return chunks;
    }
  }

  async close(): Promise<void> {
    await this.#handle?.close().catch(() => undefined);
    this.#handle = null;
  }
}
