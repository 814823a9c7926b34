/**
 * Which server holds which part of which key. Small keys go whole to the least-loaded server
 * (in registration order, so every worker computes the same layout); a key above the big-array
 * bound is split into one contiguous slice per server, as MXNet's kvstore does above
 * MXNET_KVSTORE_BIGARRAY_BOUND, so one large weight does not make one server the bottleneck.
 */

/** One contiguous piece of a key, held by one server. */
export interface Slice {
  /** Index of the key in registration order. */
  key: number;
  /** First element of the key this slice holds. */
  start: number;
  /** Elements in the slice. */
  length: number;
  /** Where the slice sits in its server's fused buffer (servers keep their slices packed). */
  offset: number;
}

/** A key as registered by `ps.init`. */
export interface KeySpec {
  name: string;
  length: number;
}

export interface Layout {
  keys: readonly KeySpec[];
  /** Per server, its slices in key order; `offset`s pack them. */
  servers: Slice[][];
  /** Per server, elements it holds. */
  totals: number[];
  /** Per key, its slices (server, slice) in element order. */
  byKey: { server: number; slice: Slice }[][];
}

/** Elements above which a key is split across every server (MXNet's default bound, 1e6). */
export const DEFAULT_BIG_ARRAY_BOUND = 1_000_000;

export function makeLayout(keys: readonly KeySpec[], servers: number, bigArrayBound = DEFAULT_BIG_ARRAY_BOUND): Layout {
  const load = new Array<number>(servers).fill(0);
  const slices: Slice[][] = Array.from({ length: servers }, () => []);
  const byKey: Layout['byKey'] = keys.map(() => []);
  keys.forEach((k, key) => {
    if (k.length > bigArrayBound && servers > 1) {
      // Near-equal contiguous slices, the remainder spread over the first ones.
      const base = Math.floor(k.length / servers);
      const extra = k.length % servers;
      let start = 0;
      for (let s = 0; s < servers; s++) {
        const length = base + (s < extra ? 1 : 0);
        const slice = { key, start, length, offset: load[s] };
        slices[s].push(slice);
        byKey[key].push({ server: s, slice });
        load[s] += length;
        start += length;
      }
      return;
    }
    let s = 0;
    for (let t = 1; t < servers; t++) if (load[t] < load[s]) s = t;
    const slice = { key, start: 0, length: k.length, offset: load[s] };
    slices[s].push(slice);
    byKey[key].push({ server: s, slice });
    load[s] += k.length;
  });
  return { keys, servers: slices, totals: load, byKey };
}

/** The layout's identity, compared across workers: names, lengths and the bound. */
export function layoutSignature(keys: readonly KeySpec[], bigArrayBound: number): string {
  return JSON.stringify({ bound: bigArrayBound, keys: keys.map((k) => [k.name, k.length]) });
}
