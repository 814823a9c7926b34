/**
 * Plain JS values as bytes for broadcastObject / allgatherObject: Node's structured clone
 * serialization (v8.serialize), which keeps what JSON loses (typed arrays, Maps, Sets, Dates,
 * BigInts, undefined, cycles) and refuses functions and symbols with a DataCloneError.
 */
import { deserialize, serialize } from 'node:v8';

/** The value's bytes; throws a TypeError naming `fn` for a value structured clone refuses. */
export function toBytes(value: unknown, fn: string): Uint8Array {
  try {
    const b = serialize(value);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    throw new TypeError(`${fn}: the value cannot be sent (${(err as Error).message}); send plain data: objects, arrays, numbers, strings, typed arrays, Maps, Sets`);
  }
}

/** The value `bytes` hold. */
export function fromBytes(bytes: Uint8Array): unknown {
  return deserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
