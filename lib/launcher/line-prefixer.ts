/**
 * A partial line longer than this is emitted as if it ended, so a worker printing without
 * newlines cannot make the launcher buffer without bound.
 */
const MAX_PENDING_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

/**
 * Re-cuts one worker's output stream into whole lines, each prefixed (e.g. `[3] `), and hands
 * them to `write` only as complete lines. Since every write is whole lines, output from different
 * workers sharing one destination never interleaves mid-line.
 *
 * Works on bytes, not strings, so a multi-byte UTF-8 character split across reads survives.
 */
export class LinePrefixer {
  private readonly prefix: Buffer;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private ended = false;

  constructor(
    prefix: string,
    private readonly write: (data: Buffer) => void,
  ) {
    this.prefix = Buffer.from(prefix, 'utf8');
  }

  /** Takes the next chunk of the stream; writes any lines it completes in a single call. */
  push(chunk: Buffer): void {
    if (this.ended) return;
    const out: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      out.push(this.prefix, ...this.pending, chunk.subarray(start, nl + 1));
      this.pending = [];
      this.pendingLength = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingLength += chunk.length - start;
      if (this.pendingLength > MAX_PENDING_BYTES) out.push(...this.takePendingAsLine());
    }
    if (out.length > 0) this.write(Buffer.concat(out));
  }

  /** Flushes a final line that had no newline. Idempotent; later chunks are ignored. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.pendingLength > 0) this.write(Buffer.concat(this.takePendingAsLine()));
  }

  private takePendingAsLine(): Buffer[] {
    const line = [this.prefix, ...this.pending, Buffer.from('\n')];
    this.pending = [];
    this.pendingLength = 0;
    return line;
  }
}
