/** The parts of one data-parallel step on one worker, in ms. */
export interface StepParts {
  /** Forward, backward, optimizer: what one worker alone would spend per step. */
  computeMs: number;
  /** Compressing this rank's gradients (0 where left out). */
  encodeMs: number;
  /** The exchange: the simulated all-reduce or all-gather. */
  commMs: number;
  /** Decoding what arrived (0 where left out). */
  decodeMs: number;
  /** Fraction of commMs that may run while the worker still computes, 0..1. */
  overlap: number;
}

/** What the step model predicts. */
export interface StepTime {
  /** Communication hidden behind compute. */
  hiddenMs: number;
  stepMs: number;
  /** computeMs / stepMs: one worker's step over P workers' at the same batch per worker. */
  efficiency: number;
}

/**
 * The step model of `dtrain simulate --train`: step = compute + encode + comm - hidden + decode,
 * where hidden = min(overlap x comm, compute) (communication can only hide behind compute that
 * is there; encoding and decoding sit on the critical path, before the send and after the
 * receive). Weak-scaling efficiency is compute / step: with no overlap and no codec cost,
 * compute / (compute + comm).
 */
export function stepTime(p: StepParts): StepTime {
  const hiddenMs = Math.min(p.overlap * p.commMs, p.computeMs);
  const stepMs = p.computeMs + p.encodeMs + p.commMs - hiddenMs + p.decodeMs;
  return { hiddenMs, stepMs, efficiency: p.computeMs / stepMs };
}
