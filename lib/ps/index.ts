/**
 * Asynchronous SGD with parameter servers (the survey's section 4; MXNet kvstore `dist_async`,
 * BytePS's async mode, Stale Synchronous Parallel). `dtrain run -np N --servers K script.js`
 * starts K server processes beside the N workers; in the workers:
 *
 * @example
 * ```js
 * await dtrain.init();                       // the world is the N workers
 * await dtrain.ps.init(model.parameters(), { mode: 'ssp', staleness: 2, optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 } });
 * for (const batch of batches) {
 *   model.lossAndGrad(batch.x, batch.y, batch.size);
 *   await dtrain.ps.pushPull(model.parameters());   // push gradients, pull the new values
 * }
 * await dtrain.shutdown();
 * ```
 */
import { DtrainError } from '../common/errors';
import type { Parameter } from '../common/parameter';
import { PSClient, type PsInitOptions, type PushResult } from './client';
import { psJob } from './job';
import type { ServerStats } from './protocol';

export { PSClient } from './client';
export type { PsInitOptions, PushResult } from './client';
export { ParameterServer } from './server';
export type { PsMode, ServerOptimizerConfig, ServerStats } from './protocol';
export { makeLayout, DEFAULT_BIG_ARRAY_BOUND } from './layout';
export type { Layout, Slice, KeySpec } from './layout';

let client: PSClient | undefined;

/** This process's client; created with the job. */
export function getClient(who = 'ps'): PSClient {
  const job = psJob();
  if (!job) {
    throw new DtrainError(
      `${who}: this job has no parameter servers; start it with 'dtrain run -np N --servers K script.js' (and call 'await dtrain.init()' first)`,
      'ERR_DTRAIN_NOT_INITIALIZED',
    );
  }
  if (client === undefined || (client as unknown as { job: unknown }).job !== job) client = new PSClient(job);
  return client;
}

/** Forgets the client (shutdown() calls it after closing the job). */
export function resetClient(): void {
  client = undefined;
}

/** Number of parameter servers in this job (0 when it has none). */
export function numServers(): number {
  return psJob()?.servers ?? 0;
}

/** Registers the keys; the servers take worker 0's values, which every worker then holds. See {@link PsInitOptions}. */
export function init(params: readonly { name: string; data: Float32Array }[], options: PsInitOptions): Promise<void> {
  return getClient('ps.init').init(params, options);
}
/** Pushes every parameter's gradient and pulls the new values (the worker's clock tick). */
export function pushPull(params: readonly Parameter[], opts?: { lr?: number }): Promise<PushResult> {
  return getClient('ps.pushPull').pushPull(params, opts);
}
/** Pushes one key's gradient (async and ssp modes). */
export function push(name: string, grad: Float32Array, opts?: { lr?: number }): Promise<PushResult> {
  return getClient('ps.push').push(name, grad, opts);
}
/** Pulls one key's current values. */
export function pull(name: string, out?: Float32Array): Promise<Float32Array> {
  return getClient('ps.pull').pull(name, out);
}
/** Every server's statistics (updates, staleness, SSP's observed lead, busy time). */
export function stats(): Promise<ServerStats[]> {
  return getClient('ps.stats').stats();
}
/**
 * Says this worker is finished and waits for the others (shutdown() does it too); resolves to
 * every server's final statistics, and with `params` pulls the final values into them.
 */
export function close(params?: readonly { name: string; data: Float32Array }[]): Promise<ServerStats[]> {
  return getClient('ps.close').close(params);
}
