import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

/**
 * The checkpoint file: `DTRAINCK`, a format version, a JSON header in which every typed array
 * of the saved object became `{ "$typed": type, "index": i, "length": n }` with a table of where
 * each one's bytes are, the tensors' bytes (each 8-byte aligned), and a CRC-32 of everything
 * before it. A truncated or corrupt file fails its checks as a whole: a
 * load never takes part of one.
 */
const MAGIC = Buffer.from('DTRAINCK', 'latin1');
const VERSION = 2;

/** The file a checkpoint directory holds. */
export const CHECKPOINT_FILE = 'checkpoint.dtc';

type Tree = unknown;

// The typed arrays a checkpoint keeps as such (DGC indices, error-feedback residuals, a loss
// scaler's counters, ...); other ArrayBuffer views are refused rather than turned into objects.
const TYPED = { Float32Array, Float64Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array } as const;
type TypedName = keyof typeof TYPED;
type Typed = InstanceType<(typeof TYPED)[TypedName]>;

function typedName(v: ArrayBufferView): TypedName | undefined {
  const name = v.constructor.name as TypedName;
  return Object.hasOwn(TYPED, name) && v instanceof TYPED[name] ? name : undefined;
}

function encode(value: Tree, tensors: Typed[]): unknown {
  if (ArrayBuffer.isView(value)) {
    const type = typedName(value);
    if (!type) throw new TypeError(`a checkpoint cannot hold a ${value.constructor.name}; use one of ${Object.keys(TYPED).join(', ')}`);
    tensors.push(value as Typed);
    return { $typed: type, index: tensors.length - 1, length: (value as Typed).length };
  }
  if (Array.isArray(value)) return value.map((v) => encode(v, tensors));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = encode(v, tensors);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
  return value;
}

function decode(value: unknown, tensors: Typed[]): Tree {
  if (Array.isArray(value)) return value.map((v) => decode(v, tensors));
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$typed === 'string') {
      const t = tensors[o.index as number];
      if (!t || t.length !== o.length || t.constructor.name !== o.$typed) throw new Error('tensor table does not match the header');
      return t;
    }
    if (typeof o.$num === 'string') return Number(o.$num);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = decode(v, tensors);
    return out;
  }
  return value;
}

/** The bytes of a checkpoint holding `state` (plain data and Float32Arrays). */
export function serializeCheckpoint(state: Tree): Buffer {
  const tensors: Typed[] = [];
  const header = encode(state, tensors) as Record<string, unknown>;
  // [byte offset, element count, type]; every tensor starts 8-byte aligned in the payload.
  const table: [number, number, TypedName][] = [];
  let offset = 0;
  for (const t of tensors) {
    table.push([offset, t.length, typedName(t) as TypedName]);
    offset += Math.ceil(t.byteLength / 8) * 8;
  }
  const json = Buffer.from(JSON.stringify({ state: header, tensors: table }), 'utf8');
  const out = Buffer.alloc(8 + 4 + 4 + json.length + offset + 4);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  const start = 16 + json.length;
  tensors.forEach((t, i) => Buffer.from(t.buffer, t.byteOffset, t.byteLength).copy(out, start + table[i][0]));
  const at = start + offset;
  out.writeUInt32LE(zlib.crc32(out.subarray(0, at)), at);
  return out;
}

/**
 * The state saved in checkpoint bytes.
 *
 * @throws Error saying what is wrong (not a checkpoint, another version, truncated, corrupt)
 */
export function deserializeCheckpoint(buf: Buffer, file = 'checkpoint'): Tree {
  if (buf.length < 20 || !buf.subarray(0, 8).equals(MAGIC)) throw new Error(`${file}: not a dtrain checkpoint`);
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) throw new Error(`${file}: checkpoint format ${version}; this dtrain reads format ${VERSION}`);
  const jsonLength = buf.readUInt32LE(12);
  if (16 + jsonLength + 4 > buf.length) throw new Error(`${file}: truncated (the header alone needs ${16 + jsonLength + 4} bytes, the file has ${buf.length})`);
  let parsed: { state: unknown; tensors: [number, number, TypedName][] };
  try {
    parsed = JSON.parse(buf.subarray(16, 16 + jsonLength).toString('utf8'));
  } catch {
    throw new Error(`${file}: corrupt header`);
  }
  const start = 16 + jsonLength;
  if (!Array.isArray(parsed.tensors) || parsed.tensors.some(([, , type]) => !Object.hasOwn(TYPED, type))) {
    throw new Error(`${file}: corrupt header (tensor table)`);
  }
  const last = parsed.tensors[parsed.tensors.length - 1];
  const bytes = last ? last[0] + Math.ceil((last[1] * TYPED[last[2]].BYTES_PER_ELEMENT) / 8) * 8 : 0;
  if (start + bytes + 4 !== buf.length) {
    throw new Error(`${file}: truncated or padded: ${buf.length} bytes where the header describes ${start + bytes + 4}`);
  }
  const crc = buf.readUInt32LE(start + bytes);
  if (zlib.crc32(buf.subarray(0, start + bytes)) !== crc) throw new Error(`${file}: corrupt (checksum mismatch)`);
  // Copies, so the tensors own aligned memory independent of the file's buffer.
  const tensors = parsed.tensors.map(([off, n, type]) => {
    const t = new TYPED[type](n);
    Buffer.from(t.buffer).set(buf.subarray(start + off, start + off + t.byteLength));
    return t;
  });
  try {
    return decode(parsed.state, tensors);
  } catch (err) {
    throw new Error(`${file}: corrupt (${(err as Error).message})`);
  }
}

/**
 * Writes `state` as `dir/checkpoint.dtc` atomically: to a temporary file, flushed to disk, then
 * renamed over the old one, so a crash mid-save leaves the previous checkpoint intact.
 */
export function saveCheckpoint(dir: string, state: Tree): string {
  return saveCheckpointFile(path.join(dir, CHECKPOINT_FILE), state);
}

/** {@link saveCheckpoint} to a named file. */
export function saveCheckpointFile(file: string, state: Tree): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, serializeCheckpoint(state));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return file;
}

/** The state in `dir/checkpoint.dtc`, or undefined when there is none. Throws on a bad file. */
export function loadCheckpoint(dir: string): { file: string; state: Tree } | undefined {
  return loadCheckpointFile(path.join(dir, CHECKPOINT_FILE));
}

/** {@link loadCheckpoint} from a named file. */
export function loadCheckpointFile(file: string): { file: string; state: Tree } | undefined {
  if (!fs.existsSync(file)) return undefined;
  return { file, state: deserializeCheckpoint(fs.readFileSync(file), file) };
}
