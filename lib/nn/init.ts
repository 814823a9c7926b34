import { Rng } from '../common/rng';

/**
 * torch.nn.Linear's default initialisation: weights by kaiming_uniform_(a = sqrt(5)) and the
 * bias uniform, which both come to U(-1/sqrt(in), 1/sqrt(in)). Draws from a seeded {@link Rng}
 * (the values differ from torch's generator; the distribution is the same).
 */
export function uniformInit(out: Float32Array, fanIn: number, rng: Rng): void {
  const bound = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.nextFloat() - 1) * bound;
}
