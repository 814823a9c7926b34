/**
 * The messages between a worker and a server, over the point-to-point path (tagged send/recv)
 * of the pair communicator they share. Every request is a fixed-size header, then a payload
 * whose length the header gives; every reply is a status header, then the values asked for or
 * an error message. Receivers check type, length and tag, so a desynchronised pair fails with
 * ERR_DTRAIN_MISMATCH instead of reading garbage.
 */

export const enum Op {
  /** Registration: payload is the JSON of {@link InitRequest} (uint8); worker 0 then sends the values. */
  Init = 1,
  /** One key's slice: float32 gradient (or a codec's words) in, status out. */
  Push = 2,
  /** One key's slice: status, then float32 values out. */
  Pull = 3,
  /** Every slice on the server: gradient in, status and values out; advances the worker's clock. */
  PushPull = 4,
  /** Server statistics: status, then their JSON. */
  Stats = 5,
  /** The worker is finished: status out, and the server stops waiting for it. */
  Done = 6,
}

/** Request header, float64: [op, slice index (-1 = all), worker clock, lr, payload length, codec]. */
export const REQUEST_WORDS = 6;
/** Reply header, float64: [status (0 ok, 1 error), version, staleness, error bytes, codec payload]. */
export const REPLY_WORDS = 5;

/**
 * A worker silent this many collective timeouts is dropped by the servers (a step is
 * milliseconds); a worker waits twice as long for a gated reply, so the drop comes first.
 */
export const IDLE_TIMEOUTS = 10;

export const TAG_REQUEST = 101;
export const TAG_PAYLOAD = 102;
export const TAG_REPLY = 103;
export const TAG_VALUES = 104;

/** How a gradient travels: plain float32, or a compressor's 32-bit words. */
export const enum Codec {
  Float32 = 0,
  Words = 1,
}

/** The consistency models (see docs/async.md). */
export type PsMode = 'sync' | 'async' | 'ssp';

/** The server-side optimizer, as plain data (it crosses a process boundary). */
export interface ServerOptimizerConfig {
  type: 'sgd' | 'lars';
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** LARS only: trust coefficient. */
  eta?: number;
}

/** What a worker's Init carries. Every worker sends it; the servers check they agree. */
export interface InitRequest {
  worker: number;
  workers: number;
  signature: string;
  keys: { name: string; length: number }[];
  bigArrayBound: number;
  mode: PsMode;
  staleness: number;
  staleLr: boolean;
  optimizer: ServerOptimizerConfig;
  /** The compressor's config string (`'none'`, `'qsgd levels=15 chunk=512'`). */
  compression: string;
  /** The workers' collective timeout (their init() options may set it): the servers' idle rule follows it. */
  timeoutSec: number;
}

/** What a Stats reply carries (per server). */
export interface ServerStats {
  server: number;
  rank: number;
  mode: PsMode;
  staleness: number;
  /** Updates applied to this server's shard (per key-slice updates count once per request). */
  updates: number;
  pushes: number;
  pulls: number;
  /** Updates skipped because the gradient held inf or NaN. */
  skipped: number;
  /** Mean over pushes of (shard version at apply) - (version the gradient was computed from). */
  mean_staleness: number;
  max_staleness: number;
  /**
   * SSP's invariant as observed: the largest (clock of a worker released to compute) - (slowest
   * live worker's clock) at any release. At most `staleness` in ssp, 0 in sync.
   */
  max_lead: number;
  /** Seconds the server's thread spent applying updates and copying values. */
  busy_s: number;
  /** Seconds from its first request to its last. */
  active_s: number;
  /** Workers dropped because they died or went silent, with why. */
  dropped: { worker: number; why: string }[];
  /** Per worker, its clock (pushPulls) at the end. */
  clocks: number[];
}
