/**
 * Wire-format pieces of the rendezvous store protocol (docs/store-protocol.md) shared by the
 * server and the TypeScript client.
 */

/** Longest request or reply line, newline excluded. Keys are short; this only bounds memory. */
export const MAX_LINE_BYTES = 4096;

/** Largest value a SET may carry. The store exchanges addresses and names, never tensors. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

/** How long a new connection has to present `AUTH <token>` before it is refused. */
export const AUTH_TIMEOUT_MS = 10_000;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A request line that parsed cleanly. */
export type Request =
  | { kind: 'SET'; key: string; length: number; ephemeral: boolean }
  | { kind: 'GET'; key: string; timeoutMs: number }
  | { kind: 'ADD'; key: string; delta: bigint }
  | { kind: 'DEL'; key: string }
  | { kind: 'CAS'; key: string; expectLength: number | null; length: number }
  | { kind: 'LIST'; prefix: string }
  | { kind: 'WATCH'; prefix: string; revision: number; timeoutMs: number };

/** The verbs and how many arguments each takes. */
const ARITY: Record<string, number> = { SET: 2, SETE: 2, GET: 2, ADD: 2, DEL: 1, CAS: 3, LIST: 1, WATCH: 3 };

/** Why a request line was rejected; sent back as `ERR <why>`. */
export interface Malformed {
  kind: 'malformed';
  why: string;
}

/** True for a key the protocol allows: non-empty, no spaces, no newlines. */
export function isValidKey(key: string): boolean {
  return key.length > 0 && !/[ \n]/.test(key);
}

/** True when `value` fits a signed 64-bit counter, the range the native client uses. */
export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/**
 * Parses one request line (already stripped of its newline, decoded as latin1).
 *
 * @returns the request, or the reason it is malformed
 */
export function parseRequest(line: string): Request | Malformed {
  const parts = line.split(' ');
  const verb = parts[0];
  if (!Object.hasOwn(ARITY, verb)) {
    // The verb is echoed back, so cap it: a peer must not be able to make us write arbitrary data.
    const shown = verb.length > 16 ? `${verb.slice(0, 16)}...` : verb;
    return malformed(verb === '' ? 'empty request' : `unknown request ${JSON.stringify(shown)}`);
  }
  const arity = ARITY[verb];
  if (parts.length !== arity + 1) return malformed(`${verb} takes exactly ${arity} argument${arity > 1 ? 's' : ''}`);
  const key = parts[1];
  if (!isValidKey(key)) return malformed('bad key');
  const length = (arg: string): number | Malformed => {
    if (!/^\d+$/.test(arg)) return malformed('bad length');
    const n = Number(arg);
    return n > MAX_VALUE_BYTES ? malformed(`value longer than ${MAX_VALUE_BYTES} bytes`) : n;
  };
  switch (verb) {
    case 'SET':
    case 'SETE': {
      const n = length(parts[2]);
      return typeof n === 'number' ? { kind: 'SET', key, length: n, ephemeral: verb === 'SETE' } : n;
    }
    case 'GET': {
      if (!/^\d+$/.test(parts[2])) return malformed('bad timeout');
      return { kind: 'GET', key, timeoutMs: Number(parts[2]) };
    }
    case 'ADD': {
      if (!/^[+-]?\d+$/.test(parts[2])) return malformed('bad delta');
      const delta = BigInt(parts[2]);
      if (!fitsInt64(delta)) return malformed('delta out of 64-bit range');
      return { kind: 'ADD', key, delta };
    }
    case 'DEL':
      return { kind: 'DEL', key };
    case 'CAS': {
      // `-` expects the key to be absent: create-if-absent, the membership's one-winner write.
      const expect = parts[2] === '-' ? null : length(parts[2]);
      if (expect !== null && typeof expect !== 'number') return expect;
      const n = length(parts[3]);
      if (typeof n !== 'number') return n;
      if ((expect ?? 0) + n > MAX_VALUE_BYTES) return malformed(`values longer than ${MAX_VALUE_BYTES} bytes`);
      return { kind: 'CAS', key, expectLength: expect, length: n };
    }
    case 'LIST':
      return { kind: 'LIST', prefix: key };
    default: {
      if (!/^\d+$/.test(parts[2])) return malformed('bad revision');
      if (!/^\d+$/.test(parts[3])) return malformed('bad timeout');
      return { kind: 'WATCH', prefix: key, revision: Number(parts[2]), timeoutMs: Number(parts[3]) };
    }
  }
}

function malformed(why: string): Malformed {
  return { kind: 'malformed', why };
}

/**
 * Splits `host:port` (or `[v6host]:port`) into its parts.
 *
 * @throws Error if the address has no valid port
 */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^(.+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid store address ${JSON.stringify(address)} (expected host:port)`);
  }
  return { host: m[1], port };
}

/** Formats a host and port as the protocol's `host:port`, bracketing IPv6 literals. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
