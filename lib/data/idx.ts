import * as fs from 'fs';
import * as zlib from 'zlib';

/** An idx file's contents (the format of MNIST and Fashion-MNIST): unsigned bytes and dimensions. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Reads an idx file of unsigned bytes (type 0x08), gzip-compressed (`.gz`, read through zlib) or
 * not. Checks the magic, the type and that the data length matches the dimensions.
 *
 * @throws Error naming the file and what was expected, for a missing, truncated or corrupt file
 */
export function readIdx(file: string): IdxArray {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read it (${e.code ?? e.message})`);
  }
  let buf: Buffer = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(raw);
    } catch (err) {
      throw new Error(`${file}: not a valid gzip file (${(err as Error).message}); is it truncated? Re-download or reinstall it`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${file}: not an idx file (expected the magic 00 00 <type> <dims> at the start)`);
  }
  if (buf[2] !== 0x08) throw new Error(`${file}: idx element type 0x${buf[2].toString(16)}; expected 0x08 (unsigned bytes)`);
  const ndim = buf[3];
  if (ndim < 1 || buf.length < 4 + 4 * ndim) throw new Error(`${file}: truncated idx header (${ndim} dimensions)`);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = buf.readUInt32BE(4 + 4 * i);
    dims.push(d);
    count *= d;
  }
  const offset = 4 + 4 * ndim;
  if (buf.length !== offset + count) {
    throw new Error(
      `${file}: dimensions ${dims.join(' x ')} need ${count} bytes of data, the file has ${buf.length - offset}` +
        (buf.length < offset + count ? ' (truncated)' : ''),
    );
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, count) };
}

/** Writes an idx file of unsigned bytes, gzip-compressed when the name ends in `.gz`. */
export function writeIdx(file: string, dims: number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const body = Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  fs.writeFileSync(file, file.endsWith('.gz') ? zlib.gzipSync(body, { level: 9 }) : body);
}
