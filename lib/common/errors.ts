/**
 * The error class of every failure of a job (a lost peer, a timeout, a mismatch, a broken or
 * closed communicator, a failed bootstrap): `err instanceof DtrainError`, with `err.code` saying
 * which. The native addon throws it (lib/native.ts hands it the class at load); bad arguments
 * are TypeError or RangeError instead, naming the argument.
 */
export class DtrainError extends Error {
  /**
   * `ERR_DTRAIN_PEER_LOST` (`rank` = the lost rank), `ERR_DTRAIN_TIMEOUT` (`ranks` = those
   * awaited), `ERR_DTRAIN_MISMATCH` (`ranks` = those that disagree with the majority),
   * `ERR_DTRAIN_BROKEN`, `ERR_DTRAIN_BOOTSTRAP`, `ERR_DTRAIN_CLOSED`, `ERR_DTRAIN_SYSTEM`;
   * `ERR_DTRAIN_NONFINITE` from the Trainer (the loss or the averaged gradient became inf/NaN).
   */
  code: string;
  /** The one rank the error is about, when there is one (`ranks[0]`). */
  rank?: number;
  /** Every rank the error is about. */
  ranks: number[];

  constructor(message: string, code = 'ERR_DTRAIN_SYSTEM', ranks: number[] = []) {
    super(message);
    this.name = 'DtrainError';
    this.code = code;
    this.ranks = ranks;
    if (ranks.length > 0) this.rank = ranks[0];
  }
}
