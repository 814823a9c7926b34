import { InvalidArgumentError } from 'commander';
import { costModelFor } from '../comm/config';
import type { CostModel } from '../native';

/** A named network for `dtrain simulate --network`: one link per rank, full duplex. */
export interface NetworkPreset {
  /** Seconds per message: the software and switch latency of one send, not the wire's. */
  alpha: number;
  /** Seconds per byte: 8 / (line rate in bit/s); protocol overhead is left out. */
  beta: number;
  /** Seconds per byte reduced: the native default (a CPU sum at about 20 GB/s). */
  gamma: number;
  summary: string;
}

/**
 * The presets. Latencies are per message as MPI or a TCP stack sees them, at the low end of what
 * such links measure (TCP over 10 GbE: tens of microseconds; RDMA over 100 GbE: a few); say
 * `--alpha` to use another.
 */
export const NETWORKS: Record<string, NetworkPreset> = {
  '1gbe': { alpha: 50e-6, beta: 8e-9, gamma: 5e-11, summary: '1 Gb/s (0.125 GB/s), 50 us per message' },
  '10gbe': { alpha: 25e-6, beta: 8e-10, gamma: 5e-11, summary: '10 Gb/s (1.25 GB/s), 25 us per message' },
  '25gbe': { alpha: 15e-6, beta: 3.2e-10, gamma: 5e-11, summary: '25 Gb/s (3.125 GB/s), 15 us per message' },
  '100gbe': { alpha: 5e-6, beta: 8e-11, gamma: 5e-11, summary: '100 Gb/s (12.5 GB/s), 5 us per message (RDMA-class)' },
};

/** Commander parser for `--network`. */
export function networkName(value: string): string {
  if (!Object.hasOwn(NETWORKS, value)) {
    throw new InvalidArgumentError(`Expected one of ${Object.keys(NETWORKS).join(', ')}.`);
  }
  return value;
}

/** The model options `dtrain simulate` shares between its modes. */
export interface ModelOptions {
  alpha?: number;
  beta?: number;
  gamma?: number;
  network?: string;
  transport?: string;
}

/**
 * The cost model a command line asks for: the `--network` preset or the `--transport`'s
 * calibrated model (one of them at most), then `--alpha`/`--beta`/`--gamma` over it. What stays
 * undefined is the addon's default.
 *
 * @throws InvalidArgumentError when both presets are given
 */
export function modelFrom(o: ModelOptions): Partial<CostModel> {
  if (o.network !== undefined && o.transport !== undefined) {
    throw new InvalidArgumentError('--network and --transport are two starting models: give one');
  }
  const base: Partial<CostModel> =
    o.network !== undefined
      ? NETWORKS[o.network]
      : o.transport && o.transport !== 'auto'
        ? costModelFor(o.transport)
        : {};
  return { alpha: o.alpha ?? base.alpha, beta: o.beta ?? base.beta, gamma: o.gamma ?? base.gamma };
}
