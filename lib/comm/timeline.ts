/**
 * The timeline (DTRAIN_TIMELINE=FILE, or init({ timeline: FILE })): a Chrome-trace JSON file
 * that ui.perfetto.dev and chrome://tracing open. Per process one pid (its rank in the job);
 * tracks (tids) for the JS thread, the training loop's buckets, and each communicator's engine
 * thread. The native core records each call's phases (queued, inline or handed over, descriptor
 * exchange, each round, the data phase, the call).
 *
 * A rank writes its part as it goes, every 100 ms and at exit, in a compact form: the native
 * events as raw float64 records (formatting JSON on the JS thread, for every call, cost 25% of a
 * 1 MiB all-reduce loop; writing the numbers costs nothing measurable), and the few JS spans and
 * names as JSON lines. The launcher turns the parts into one JSON array when the job ends,
 * killed ranks included (a part is complete up to its last write); `dtrain timeline FILE`
 * does it by hand, and a job of one converts its own file at exit. A part that reaches the size
 * cap rotates (FILE.1 keeps the previous one, and is merged too).
 */
import * as fs from 'node:fs';
import { nativeIds } from '../common/constants';
import type { NativeCommunicator } from '../native';

/** Fields per native event (native/napi/comm_wrap.cc, drainTimeline). */
const FIELDS = 9;
const PHASES = ['call', 'queued', 'exchange', 'data', 'round', 'inline'];
const DRAIN_MS = 100;
// Record tags of a part file: a block of native events, or one JSON line.
const EVENTS = 0x31455444; // 'DTE1'
const TEXT = 0x31535444; // 'DTS1'

/** Tracks: the JS thread, the training loop's buckets, then one engine thread per communicator. */
export const TID_JS = 1;
export const TID_BUCKETS = 2;

interface Source {
  native: NativeCommunicator;
  label: string;
  engineTid: number;
}

class TimelineWriter {
  private fd: number;
  private bytes = 0;
  private readonly sources: Source[] = [];
  private nextTid = 3;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly header = Buffer.alloc(12);
  /** Every algorithm name seen, written again at the head of each part (a part is read alone). */
  private readonly algorithms: Record<string, string> = {};

  constructor(
    readonly file: string,
    readonly pid: number,
    private readonly capBytes: number,
    /** Convert the part to JSON at exit (a job of one: no launcher will). */
    private readonly convertAtExit: boolean,
  ) {
    // A previous run's rotated part would otherwise be merged with this one's.
    fs.rmSync(`${file}.1`, { force: true });
    this.fd = this.open();
    this.timer = setInterval(() => this.drain(), DRAIN_MS);
    this.timer.unref();
    process.once('exit', () => this.close());
  }

  private open(): number {
    const fd = fs.openSync(this.file, 'w');
    this.bytes = 0;
    this.fd = fd;
    this.text(meta(this.pid, 0, 'process_name', { name: `rank ${this.pid}` }));
    this.text(meta(this.pid, TID_JS, 'thread_name', { name: 'JS thread' }));
    this.text(meta(this.pid, TID_BUCKETS, 'thread_name', { name: 'training: buckets and steps' }));
    for (const s of this.sources) this.describe(s);
    if (Object.keys(this.algorithms).length > 0) this.text(JSON.stringify({ dtrainAlgorithms: this.algorithms }));
    return fd;
  }

  private rotateIfFull(next: number): void {
    if (this.bytes + next <= this.capBytes) return;
    fs.closeSync(this.fd);
    fs.renameSync(this.file, `${this.file}.1`);
    this.fd = this.open();
  }

  private record(tag: number, a: number, b: number, body: Uint8Array): void {
    if (this.closed) return;
    try {
      this.rotateIfFull(12 + body.length);
      this.header.writeUInt32LE(tag, 0);
      this.header.writeUInt32LE(a, 4);
      this.header.writeUInt32LE(b, 8);
      fs.writeSync(this.fd, this.header);
      fs.writeSync(this.fd, body);
      this.bytes += 12 + body.length;
    } catch (err) {
      // A full disk must not take the training down: say so once and stop recording.
      this.closed = true;
      if (this.timer) clearInterval(this.timer);
      process.stderr.write(`dtrain: timeline ${this.file}: ${(err as Error).message}; recording stopped\n`);
    }
  }

  /** One ready-made Chrome-trace event (metadata, a JS span). */
  text(json: string): void {
    const body = Buffer.from(json, 'utf8');
    this.record(TEXT, body.length, 0, body);
  }

  private describe(s: Source): void {
    this.text(meta(this.pid, s.engineTid, 'thread_name', { name: `engine (${s.label})` }));
    // Which tid and label a block of this source's events belongs to.
    this.text(JSON.stringify({ dtrainSource: s.engineTid, label: s.label, kinds: kindNames() }));
  }

  add(native: NativeCommunicator, label: string): void {
    const s = { native, label, engineTid: this.nextTid++ };
    this.sources.push(s);
    this.describe(s);
  }

  /** Drains `native` one last time and stops reading it (its communicator is closing). */
  remove(native: NativeCommunicator): void {
    const i = this.sources.findIndex((s) => s.native === native);
    if (i < 0) return;
    this.drainOne(this.sources[i]);
    this.sources.splice(i, 1);
  }

  drain(): void {
    for (const s of this.sources) this.drainOne(s);
  }

  private drainOne(s: Source): void {
    let d: ReturnType<NativeCommunicator['drainTimeline']>;
    try {
      d = s.native.drainTimeline();
    } catch {
      return; // torn down
    }
    if (!d) return;
    const fresh = Object.keys(d.algorithms).filter((k) => !(k in this.algorithms));
    if (fresh.length > 0) {
      Object.assign(this.algorithms, d.algorithms);
      this.text(JSON.stringify({ dtrainAlgorithms: d.algorithms }));
    }
    if (d.events.length > 0) this.record(EVENTS, s.engineTid, d.events.length / FIELDS, new Uint8Array(d.events.buffer, d.events.byteOffset, d.events.byteLength));
    if (d.dropped > 0) this.text(JSON.stringify({ name: `${d.dropped} events dropped (not drained in time)`, ph: 'i', s: 'p', ts: nowNs() / 1000, pid: this.pid, tid: s.engineTid }));
  }

  close(): void {
    if (this.closed) return;
    this.drain();
    if (this.closed) return; // a write failed
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      fs.closeSync(this.fd);
      if (this.convertAtExit) convertParts([`${this.file}.1`, this.file], this.file);
    } catch (err) {
      process.stderr.write(`dtrain: timeline ${this.file}: ${(err as Error).message}\n`);
    }
  }
}

function kindNames(): string[] {
  const names: string[] = [];
  for (const [name, code] of Object.entries(nativeIds().opKind)) names[code] = name;
  return names;
}

function meta(pid: number, tid: number, name: string, args: Record<string, unknown>): string {
  return JSON.stringify({ name, ph: 'M', pid, tid, args });
}

let writer: TimelineWriter | undefined;

/**
 * Starts this process's timeline (once per file) and adds a communicator's events to it.
 * `launched`: a launcher will merge the part; else it is converted to JSON at exit.
 */
export function traceCommunicator(file: string, pid: number, capBytes: number, native: NativeCommunicator, label: string, launched: boolean): void {
  if (!writer || writer.file !== file) {
    writer?.close();
    writer = new TimelineWriter(file, pid, capBytes, !launched);
  }
  writer.add(native, label);
}

/** Stops reading a communicator (after a final drain). */
export function untraceCommunicator(native: NativeCommunicator): void {
  writer?.remove(native);
}

/** Whether a timeline is being written: code that records spans checks this first. */
export function timelineActive(): boolean {
  return writer !== undefined;
}

/** Nanoseconds on the clock the native events use (CLOCK_MONOTONIC). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Records a span of the training loop; a no-op without a timeline. */
export function traceSpan(name: string, tid: number, startNs: number, endNs: number, args?: Record<string, unknown>): void {
  if (!writer) return;
  writer.text(JSON.stringify({ name, cat: 'train', ph: 'X', ts: startNs / 1000, dur: Math.max(0, endNs - startNs) / 1000, pid: writer.pid, tid, args }));
}

/**
 * Records a span that may overlap others of its kind (the buckets' all-reduces) as an async
 * begin/end pair: the viewers give overlapping ones their own lanes instead of dropping them.
 */
export function traceAsyncSpan(name: string, id: string, tid: number, startNs: number, endNs: number, args?: Record<string, unknown>): void {
  if (!writer) return;
  const pid = writer.pid;
  writer.text(JSON.stringify({ name, cat: 'train', ph: 'b', id, ts: startNs / 1000, pid, tid, args }));
  writer.text(JSON.stringify({ name, cat: 'train', ph: 'e', id, ts: Math.max(startNs, endNs) / 1000, pid, tid }));
}

function human(bytes: number): string {
  if (bytes >= 2 ** 20) return `${+(bytes / 2 ** 20).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/**
 * Calls `emit` with a part file's events as Chrome-trace JSON, one record's worth at a time (a
 * part can hold millions of events: more than one string may). A record cut short (the rank
 * was killed while writing it) ends the part.
 */
export function eventsOfPart(buf: Buffer, emit: (json: string) => void): void {
  const sources = new Map<number, { label: string; kinds: string[] }>();
  const algorithms: Record<string, string> = {};
  let pid = 0;
  let off = 0;
  while (off + 12 <= buf.length) {
    const tag = buf.readUInt32LE(off);
    const a = buf.readUInt32LE(off + 4);
    const b = buf.readUInt32LE(off + 8);
    if (tag === TEXT) {
      if (off + 12 + a > buf.length) break;
      const line = buf.toString('utf8', off + 12, off + 12 + a);
      off += 12 + a;
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.dtrainSource === 'number') {
        sources.set(o.dtrainSource, { label: String(o.label), kinds: o.kinds as string[] });
      } else if (o.dtrainAlgorithms) {
        Object.assign(algorithms, o.dtrainAlgorithms);
      } else {
        if (o.name === 'process_name') pid = Number(o.pid);
        emit(line);
      }
      continue;
    }
    if (tag !== EVENTS) break; // not a part file, or damaged: keep what was read
    const bytes = b * FIELDS * 8;
    if (off + 12 + bytes > buf.length) break;
    // Copied to an aligned buffer: the record may start at any byte.
    const e = new Float64Array(buf.buffer.slice(buf.byteOffset + off + 12, buf.byteOffset + off + 12 + bytes));
    off += 12 + bytes;
    const src = sources.get(a) ?? { label: '?', kinds: [] };
    const label = JSON.stringify(src.label);
    const out: string[] = [];
    for (let i = 0; i < e.length; i += FIELDS) {
      const kind = src.kinds[e[i]] ?? `op${e[i]}`;
      const phase = PHASES[e[i + 1]] ?? 'phase';
      const tid = e[i + 2] === 0 ? TID_JS : a;
      const algo = kind === 'allreduce' ? algorithms[String(e[i + 3])] : undefined;
      const n = e[i + 6];
      const ts = e[i + 4] / 1000;
      const args = `{"bytes":${n},"seq":${e[i + 8]},"communicator":${label}${algo ? `,"algorithm":"${algo}"` : ''}}`;
      if (phase === 'queued') {
        // Waiting calls overlap the running one: an async span (its own lane in the viewers,
        // which drop overlapping complete events on one thread).
        const id = `"${label.slice(1, -1)}:${e[i + 8]}"`;
        out.push(`{"name":"queued ${kind}","cat":"queued","ph":"b","id":${id},"ts":${ts.toFixed(3)},"pid":${pid},"tid":${tid},"args":${args}}`);
        out.push(`{"name":"queued ${kind}","cat":"queued","ph":"e","id":${id},"ts":${(ts + e[i + 5] / 1000).toFixed(3)},"pid":${pid},"tid":${tid}}`);
        continue;
      }
      const name = phase === 'call' ? `${kind} ${human(n)}${algo && algo !== 'auto' ? ` (${algo})` : ''}` : phase === 'round' ? `round ${e[i + 7]}` : phase;
      out.push(
        `{"name":"${name}","cat":"${phase === 'call' ? kind : phase}","ph":"X","ts":${ts.toFixed(3)},"dur":${(e[i + 5] / 1000).toFixed(3)},` +
          `"pid":${pid},"tid":${tid},"args":${args}}`,
      );
    }
    if (out.length > 0) emit(out.join(',\n'));
  }
}

/**
 * Writes the events of `parts` (those that exist, in order) into `file` as one JSON array:
 * through a temporary file renamed into place, so a failure leaves neither a half file nor lost
 * parts; the parts are removed once it is in place. Returns the parts read.
 */
function convertParts(parts: string[], file: string): string[] {
  const present = parts.filter((p) => fs.existsSync(p));
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, '[\n');
    let first = true;
    for (const part of present) {
      eventsOfPart(fs.readFileSync(part), (json) => {
        fs.writeSync(fd, first ? json : `,\n${json}`);
        first = false;
      });
    }
    fs.writeSync(fd, '\n]\n');
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  for (const part of present) if (part !== file) fs.rmSync(part, { force: true });
  return present;
}

/** The part files of rank r, oldest first. */
const partsOf = (file: string, r: number): string[] => [`${file}.rank${r}.1`, `${file}.rank${r}`];

/** Removes a previous run's parts, so they are not merged with this one's (the launcher, at start). */
export function removeTimelineParts(file: string, ranks: number): void {
  for (let r = 0; r < ranks; r++) for (const p of partsOf(file, r)) fs.rmSync(p, { force: true });
}

/**
 * Merges the ranks' parts (FILE.rank<r>, and a rotated FILE.rank<r>.1 before it) into FILE, one
 * valid JSON array, and removes the parts. Returns the ranks found.
 */
export function mergeTimeline(file: string, ranks: number): number[] {
  const parts: string[] = [];
  const merged: number[] = [];
  for (let r = 0; r < ranks; r++) {
    const mine = partsOf(file, r).filter((p) => fs.existsSync(p));
    if (mine.length > 0) merged.push(r);
    parts.push(...mine);
  }
  convertParts(parts, file);
  return merged;
}

/** Whether `file` is a part in the raw form (a job of one that was killed before converting it). */
export function isRawPart(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, 0);
    fs.closeSync(fd);
    return b.readUInt32LE(0) === TEXT;
  } catch {
    return false;
  }
}

/** Converts a raw part in place (`dtrain timeline FILE` on a job of one's file). */
export function convertRawPart(file: string): void {
  convertParts([`${file}.1`, file], file);
}
