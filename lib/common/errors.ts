/**
 * Every error code dtrain gives `err.code`, in one table: what it means and what to do. The
 * README's "Errors" table is this one (test/56.error-codes.test.js checks them against each
 * other), and the codes marked `native` are exactly native/common/error.h's ErrorCode list (the
 * addon exports it as `registry.constants.errorCodes`; the same test checks that too).
 */

/** One row of {@link ERROR_CODES}. */
export interface ErrorCodeInfo {
  /** The class that carries it: a job failure is a DtrainError, a bad argument or setting a RangeError. */
  thrownAs: 'DtrainError' | 'RangeError';
  /** When it happens, in a line (the README's "when" column). */
  when: string;
  /** What to do about it, in a line (the README's "what to do" column). */
  remedy: string;
  /** Whether the native core raises it too (native/common/error.h). */
  native: boolean;
}

/** The error codes, in the README's order. */
export const ERROR_CODES = {
  ERR_DTRAIN_MISMATCH: {
    thrownAs: 'DtrainError',
    when: 'ranks called different collectives, or the same one with another length, type, op, root or algorithm; or built different models or optimizer settings (DistributedOptimizer, Trainer). Every rank gets the same message naming what each called; `err.ranks` are those outside the largest group',
    remedy: 'make every rank call the same collectives in the same order with the same arguments; the communicator stays usable',
    native: true,
  },
  ERR_DTRAIN_PEER_LOST: {
    thrownAs: 'DtrainError',
    when: "a peer process died or its connection broke during a collective; every rank's pending call fails within about a second, `err.rank` the lost rank",
    remedy: "see why that rank died (the launcher names its exit code or signal); `shutdown()`, then restart the job",
    native: true,
  },
  ERR_DTRAIN_TIMEOUT: {
    thrownAs: 'DtrainError',
    when: 'a collective did not finish in time (`DTRAIN_TIMEOUT`, default 30 s, or `{ timeout }` per call); `err.ranks` are the ranks that never joined the call, or, in its data phase, the ranks not waiting in it, as every waiting rank agrees (not merely the neighbour this rank waited on)',
    remedy: 'find why those ranks did not call it (a hang, a skipped call, slow work between calls) or raise the timeout',
    native: true,
  },
  ERR_DTRAIN_BROKEN: {
    thrownAs: 'DtrainError',
    when: 'a call after a lost peer or a timeout: the communicator is unusable',
    remedy: '`shutdown()` and `init()` again',
    native: true,
  },
  ERR_DTRAIN_BOOTSTRAP: {
    thrownAs: 'DtrainError',
    when: '`init()` could not reach the rendezvous store or its peers (or was not started by `dtrain run`)',
    remedy: 'start the workers with `dtrain run -np N script.js`; check that the store and peer addresses are reachable',
    native: true,
  },
  ERR_DTRAIN_CLOSED: {
    thrownAs: 'DtrainError',
    when: 'a call after `shutdown()`, on a Communicator or through the module functions (`dtrain.allreduce`, `dtrain.rank`, ...)',
    remedy: 'call `await init()` again before using the job',
    native: true,
  },
  ERR_DTRAIN_NOT_INITIALIZED: {
    thrownAs: 'DtrainError',
    when: 'a module function (`dtrain.rank`, `dtrain.allreduce`, ...) or a component that needs the job (DistributedOptimizer, Trainer) was called before `init()` finished',
    remedy: 'call `await dtrain.init()` first',
    native: false,
  },
  ERR_DTRAIN_SYSTEM: {
    thrownAs: 'DtrainError',
    when: 'an operating-system call failed; the message says which and why',
    remedy: 'act on the reason given (file descriptors, shared memory in /dev/shm, a port or an address)',
    native: true,
  },
  ERR_DTRAIN_NONFINITE: {
    thrownAs: 'DtrainError',
    when: "the Trainer's loss or averaged gradient became inf or NaN, or a LossScaler overflowed at `minScale`; names the epoch and step, and every rank stops at the same step",
    remedy: 'lower the learning rate, check the inputs, or use loss scaling with fp16',
    native: false,
  },
  ERR_DTRAIN_MEMBERSHIP: {
    thrownAs: 'DtrainError',
    when: "an elastic job's membership changed (a worker was lost or one joined), agreed at a commit; `elastic.run` and the Trainer's `elastic: true` recover from it themselves. Also: fewer than `--min-np` workers stayed alive for `--elastic-timeout` seconds (the message names who was waited for)",
    remedy: "run the training loop inside `elastic.run(state, fn)`, which catches it; for the timeout, start more workers or lower `--min-np`",
    native: false,
  },
  ERR_DTRAIN_NO_GPU: {
    thrownAs: 'DtrainError',
    when: 'a `dtrain.cuda` call on a machine where no CUDA device or runtime library was found; the message lists the library names tried and why each failed',
    remedy: 'run on a machine with an NVIDIA GPU and its driver; `dtrain info` says what was found (`cuda`, `nccl`)',
    native: true,
  },
  ERR_DTRAIN_INVALID_ARG: {
    thrownAs: 'RangeError',
    when: 'an argument that only the native core can judge is out of range (an index past the end in a decoder, an unknown algorithm)',
    remedy: 'fix the argument the message names',
    native: true,
  },
  ERR_DTRAIN_CONFIG: {
    thrownAs: 'RangeError',
    when: 'a `DTRAIN_*` environment variable (or the calibration file) holds a value dtrain or this machine cannot use, such as `DTRAIN_ISA` naming a SIMD level this CPU lacks; the message names the variable',
    remedy: 'fix or unset the variable named (the environment variables table lists what each takes)',
    native: true,
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Every code `err.code` may hold on a DtrainError, or on the RangeErrors above. */
export type DtrainErrorCode = keyof typeof ERROR_CODES;

/** Whether `s` is one of dtrain's error codes. */
export function isErrorCode(s: unknown): s is DtrainErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERROR_CODES, s);
}

/**
 * The error class of every failure of a job (a lost peer, a timeout, a mismatch, a broken or
 * closed communicator, a failed bootstrap, a call before init()): `err instanceof DtrainError`,
 * with `err.code` saying which (see {@link ERROR_CODES}). The native addon throws it
 * (lib/native.ts hands it the class at load); bad arguments and settings are TypeError or
 * RangeError instead, naming the argument or variable.
 */
export class DtrainError extends Error {
  /** Which failure: one of {@link ERROR_CODES}, each with its meaning and what to do. */
  code: DtrainErrorCode;
  /** The one rank the error is about, when there is one (`ranks[0]`). */
  rank?: number;
  /** Every rank the error is about. */
  ranks: number[];

  constructor(message: string, code: DtrainErrorCode = 'ERR_DTRAIN_SYSTEM', ranks: number[] = []) {
    super(message);
    this.name = 'DtrainError';
    this.code = code;
    this.ranks = ranks;
    if (ranks.length > 0) this.rank = ranks[0];
  }
}

/** A RangeError that carries a code, as the native core's argument errors do. */
export type CodedRangeError = RangeError & { code: DtrainErrorCode; ranks: number[] };

/**
 * The error for a bad `DTRAIN_*` variable (or calibration file): a RangeError with code
 * ERR_DTRAIN_CONFIG; the message must name the variable.
 */
export function configError(message: string): CodedRangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_DTRAIN_CONFIG' as const, ranks: [] });
}
