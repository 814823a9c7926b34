import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';

/** `dtrain run --bind-to`: `auto` (core when there is a CPU per worker), `core` or `none`. */
export type BindTo = 'auto' | 'core' | 'none';

/** The CPUs this process may run on (its affinity list), in order. */
export function allowedCpus(): number[] {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1];
    if (list) {
      const cpus: number[] = [];
      for (const part of list.trim().split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let c = a; c <= (b ?? a); c++) cpus.push(c);
      }
      if (cpus.length > 0 && cpus.every(Number.isInteger)) return cpus;
    }
  } catch {
    // Not Linux, or no /proc: fall through.
  }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/** util-linux's taskset, which starts a program with an affinity mask, if it is on PATH. */
export function findTaskset(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, 'taskset');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * The CPUs each rank is bound to (a block of floor(cpus / np) consecutive allowed CPUs, as
 * mpirun's `--map-by slot:PE=n`), or undefined for no binding. Binding keeps the scheduler from
 * stacking two workers on one core around their waits, which makes a shared-memory all-reduce
 * between them several times slower in the runs where it happens (docs/training.md); a block of
 * more than one CPU leaves each worker room for its engine thread.
 *
 * @throws Error with a usage message when `core` is asked for and cannot be honoured
 */
export function cpuPlan(np: number, mode: BindTo, cpus = allowedCpus(), taskset: string | null = findTaskset() ?? null): number[][] | undefined {
  if (mode === 'none') return undefined;
  const fits = np <= cpus.length;
  if (mode === 'core') {
    if (!fits) throw new Error(`--bind-to core: ${np} workers but only ${cpus.length} CPUs (${cpus.join(', ')}); use --bind-to none to share cores`);
    if (!taskset) throw new Error('--bind-to core needs taskset (util-linux) on PATH; use --bind-to none');
  }
  if (!fits || !taskset) return undefined;
  const block = Math.floor(cpus.length / np);
  return Array.from({ length: np }, (_, r) => cpus.slice(r * block, (r + 1) * block));
}
