/**
 * A FIFO of received bytes that can be consumed as newline-terminated lines or as fixed-size
 * blocks, however TCP happened to split or merge them.
 *
 * Chunks are kept as a list rather than concatenated on arrival: a large value arriving in many
 * small reads would otherwise be copied once per read (quadratic in its size).
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private total = 0;
  /** Leading bytes already searched for a newline, so each byte is scanned only once. */
  private scanned = 0;

  /** Number of bytes waiting to be consumed. */
  get length(): number {
    return this.total;
  }

  /** Appends received bytes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * Removes and returns the next line without its `\n`, decoded as latin1 so that every byte maps
   * to exactly one character (keys are compared byte for byte).
   *
   * @param maxLength - longest line accepted, newline excluded
   * @returns the line; `null` when no complete line has arrived yet; `'too-long'` when the line
   *   (complete or not) already exceeds `maxLength`
   */
  readLine(maxLength: number): string | null | 'too-long' {
    const end = this.findNewline();
    if (end < 0) return this.total > maxLength ? 'too-long' : null;
    if (end > maxLength) return 'too-long';
    const line = this.take(end).toString('latin1');
    this.take(1);
    return line;
  }

  /**
   * Removes and returns exactly `n` bytes, or returns `null` (consuming nothing) if fewer have
   * arrived.
   */
  read(n: number): Buffer | null {
    return this.total >= n ? this.take(n) : null;
  }

  /** Drops everything queued. */
  clear(): void {
    this.chunks = [];
    this.total = 0;
    this.scanned = 0;
  }

  private findNewline(): number {
    let pos = 0;
    for (const chunk of this.chunks) {
      if (pos + chunk.length > this.scanned) {
        const i = chunk.indexOf(0x0a, Math.max(0, this.scanned - pos));
        if (i >= 0) return pos + i;
      }
      pos += chunk.length;
    }
    this.scanned = this.total;
    return -1;
  }

  private take(n: number): Buffer {
    const pieces: Buffer[] = [];
    let needed = n;
    while (needed > 0) {
      const head = this.chunks[0];
      if (head.length <= needed) {
        pieces.push(head);
        this.chunks.shift();
        needed -= head.length;
      } else {
        pieces.push(head.subarray(0, needed));
        this.chunks[0] = head.subarray(needed);
        needed = 0;
      }
    }
    this.total -= n;
    this.scanned = Math.max(0, this.scanned - n);
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, n);
  }
}
