import { readFileSync } from 'node:fs';

/** Where `dtrain simulate --train` takes a worker's compute time per step from. */
export interface ComputeSource {
  /** One step's compute on one worker, ms (after any rescaling to `batchPerWorker`). */
  computeMs: number;
  /** Per-worker batch, where known (for samples/s). */
  batchPerWorker?: number;
  /** How the number was obtained, for the table's header. */
  describe: string;
}

/** The fields of the example's summary line that --from needs. */
const NEEDED = ['np', 'batch_per_worker', 'step_ms', 'comm_wait_ms'] as const;

/**
 * The last JSON object line of `text`, as `dtrain run` prints it (an optional `[rank] ` prefix
 * before it), or undefined where no line holds one.
 */
export function lastJsonLine(text: string): Record<string, unknown> | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].replace(/^\[\d+\]\s*/, '').trim();
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON after all: keep looking upwards
    }
  }
  return undefined;
}

/**
 * The compute time from the example's JSON output (examples/fashion-mnist.js --json, through
 * `dtrain run` or not): its last JSON line's `step_ms - comm_wait_ms`, the part of a step that
 * was not spent waiting for communication (forward, backward, the optimizer, the data). With
 * `batchPerWorker`, scaled by batchPerWorker / the run's batch_per_worker (compute per sample
 * held fixed).
 *
 * @param file - a path, or '-' for standard input
 * @throws Error with a message for the user: unreadable file, no JSON line, missing or bad fields
 */
export function computeFromRun(file: string, batchPerWorker?: number): ComputeSource {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new Error(`--from ${file}: ${(err as Error).message}`);
  }
  const line = lastJsonLine(text);
  if (!line) throw new Error(`--from ${file}: no JSON line (expected the output of examples/fashion-mnist.js --json)`);
  const bad = NEEDED.filter((k) => typeof line[k] !== 'number' || !Number.isFinite(line[k]) || (line[k] as number) < 0);
  if (bad.length) {
    throw new Error(
      `--from ${file}: its last JSON line lacks ${bad.join(', ')} as numbers >= 0 ` +
        `(expected the summary of examples/fashion-mnist.js --json: ${NEEDED.join(', ')})`,
    );
  }
  const [np, batch, stepMs, waitMs] = NEEDED.map((k) => line[k] as number);
  if (!(stepMs > waitMs) || !(batch >= 1)) {
    throw new Error(`--from ${file}: step_ms (${stepMs}) must exceed comm_wait_ms (${waitMs}) and batch_per_worker must be >= 1`);
  }
  const measured = stepMs - waitMs;
  const scale = batchPerWorker === undefined ? 1 : batchPerWorker / batch;
  const rescaled = scale === 1 ? '' : `, scaled by ${batchPerWorker}/${batch} to batch ${batchPerWorker}`;
  return {
    computeMs: measured * scale,
    batchPerWorker: batchPerWorker ?? batch,
    describe:
      `${file}: step_ms ${+stepMs.toFixed(3)} - comm_wait_ms ${+waitMs.toFixed(3)} = ${+measured.toFixed(3)} ms ` +
      `measured at np ${np}, batch ${batch} per worker${rescaled}`,
  };
}
