import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../../comm/communicator';
import { getCommunicator } from '../../comm/world';
import { checkSameParameters } from '../../train/fingerprint';
import { tfjs } from './load';
import type { NamedTensor } from './optimizer';

const tf = tfjs().core;

type Arrays = Float32Array | Int32Array | Uint8Array;
const ARRAY_OF: Record<string, new (n: number) => Arrays> = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

/** What every rank needs to receive root's tensors: their names, shapes and dtypes. */
interface Meta {
  names: string[];
  shapes: number[][];
  dtypes: string[];
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Broadcasts root's tensor values, one fused array per dtype. Root passes `values`; every rank
 * passes the same `meta`. Resolves, on the other ranks, to new tensors (the caller disposes
 * them); on root to undefined.
 */
async function broadcastValues(meta: Meta, values: tfc.Tensor[] | undefined, root: number, comm: Communicator, who: string): Promise<tfc.Tensor[] | undefined> {
  const groups = new Map<string, number[]>();
  meta.dtypes.forEach((d, i) => {
    if (!ARRAY_OF[d]) throw new TypeError(`${who}: '${meta.names[i]}' is ${d}; dtrain broadcasts float32, int32 and bool tensors`);
    groups.set(d, [...(groups.get(d) ?? []), i]);
  });
  const fused = new Map<string, Arrays>();
  for (const [dtype, members] of groups) {
    const buf = new ARRAY_OF[dtype](members.reduce((n, i) => n + sizeOf(meta.shapes[i]), 0));
    if (values) {
      let at = 0;
      for (const i of members) {
        const v = values[i].dataSync();
        buf.set(v as Arrays, at);
        at += v.length;
      }
    }
    fused.set(dtype, buf);
  }
  await Promise.all([...fused.values()].map((buf) => comm.broadcast(buf, root)));
  if (comm.rank === root) return undefined;
  const out: tfc.Tensor[] = new Array(meta.names.length);
  for (const [dtype, members] of groups) {
    const buf = fused.get(dtype) as Arrays;
    let at = 0;
    for (const i of members) {
      const n = sizeOf(meta.shapes[i]);
      out[i] = tf.tensor(buf.slice(at, at + n), meta.shapes[i], dtype as tfc.DataType);
      at += n;
    }
  }
  return out;
}

/** Options of {@link broadcastWeights} and {@link broadcastOptimizerWeights}. */
export interface BroadcastWeightsOptions {
  /** The communicator; default the one `dtrain.init()` created. */
  communicator?: Communicator;
}

/**
 * Copies `root`'s model weights (trainable or not) to every rank, so all workers start from
 * the same model (Horovod's `broadcast_variables`). Every rank first checks that all hold the
 * same weights (names, sizes, order): models that differ get ERR_DTRAIN_MISMATCH naming the
 * weight. For custom training loops; `model.fit` has {@link BroadcastWeightsCallback}.
 */
export async function broadcastWeights(model: tfl.LayersModel, root = 0, options: BroadcastWeightsOptions = {}): Promise<void> {
  const who = 'broadcastWeights';
  if (!model || !Array.isArray(model.weights) || typeof model.setWeights !== 'function') throw new TypeError(`${who}: needs a tf.LayersModel`);
  const comm = options.communicator ?? getCommunicator(who);
  if (!Number.isInteger(root) || root < 0 || root >= comm.size) throw new RangeError(`${who}: root must be an integer in [0, ${comm.size}), got ${String(root)}`);
  if (comm.size === 1) return;
  const vars = model.weights;
  // Shape and dtype are in the compared name: a weight of the same size but another shape or
  // type would make only the receiving ranks' setWeights fail.
  checkSameParameters(
    vars.map((v) => ({ name: `${v.originalName ?? v.name} [${v.shape.join(',')}] ${v.dtype}`, data: { length: sizeOf(v.shape as number[]) } })),
    comm,
    who,
  );
  const meta: Meta = { names: vars.map((v) => v.originalName ?? v.name), shapes: vars.map((v) => v.shape as number[]), dtypes: vars.map((v) => v.dtype) };
  const received = await broadcastValues(meta, comm.rank === root ? model.getWeights() : undefined, root, comm, who);
  if (received) {
    try {
      model.setWeights(received);
    } finally {
      tf.dispose(received);
    }
  }
}

let warnedUnsupported = false;

/**
 * Copies `root`'s optimizer state (step count, momentum or Adam slots) to every rank, in
 * root's layout: a rank that has no slots yet gets root's. Resolves to the number of tensors
 * broadcast (0 when root's optimizer has none, or cannot give its state: tfjs's Adamax has no
 * getWeights; then root warns once, and the ranks keep their own state, which stays equal
 * from equal starts since every rank applies the same averaged gradients).
 */
export async function broadcastOptimizerWeights(optimizer: tfc.Optimizer, root = 0, options: BroadcastWeightsOptions = {}): Promise<number> {
  const who = 'broadcastOptimizerWeights';
  if (!optimizer || typeof optimizer.getWeights !== 'function' || typeof optimizer.setWeights !== 'function') {
    throw new TypeError(`${who}: needs a tf.Optimizer`);
  }
  const comm = options.communicator ?? getCommunicator(who);
  if (comm.size === 1) return 0;
  let mine: NamedTensor[] | undefined;
  let unsupported: string | undefined;
  if (comm.rank === root) {
    try {
      mine = await optimizer.getWeights();
    } catch (err) {
      // Told to every rank below, so all skip alike instead of waiting in different calls.
      unsupported = `${optimizer.getClassName()}.getWeights() failed: ${(err as Error).message}`;
    }
  }
  const meta = await comm.broadcastObject<(Meta & { unsupported?: string }) | undefined>(
    comm.rank !== root ? undefined : unsupported ? { names: [], shapes: [], dtypes: [], unsupported } : metaOf(mine ?? []),
    root,
  );
  if (meta?.unsupported) {
    if (comm.rank === root && !warnedUnsupported) {
      warnedUnsupported = true;
      process.stderr.write(`dtrain/tfjs: the optimizer's state is not broadcast (${meta.unsupported}); each rank keeps its own\n`);
    }
    return 0;
  }
  if (!meta || meta.names.length === 0) return 0;
  try {
    const received = await broadcastValues(meta, mine?.map((w) => w.tensor), root, comm, who);
    if (received) {
      // setWeights replaces the slot variables without freeing the old ones: free those it
      // no longer holds.
      const before = await stateTensors(optimizer);
      try {
        await optimizer.setWeights(received.map((tensor, i) => ({ name: meta.names[i], tensor })));
      } finally {
        tf.dispose(received);
      }
      const after = await stateTensors(optimizer);
      tf.dispose(before.filter((t) => !after.includes(t)));
    }
  } finally {
    if (mine) disposeMade(mine);
  }
  return meta.names.length;
}

function metaOf(weights: NamedTensor[]): Meta {
  return { names: weights.map((w) => w.name), shapes: weights.map((w) => w.tensor.shape), dtypes: weights.map((w) => w.tensor.dtype) };
}

// getWeights makes one new tensor, the step count ('iter', by tfjs's convention); the rest are
// the optimizer's own variables, which stay.
function disposeMade(weights: NamedTensor[]): void {
  for (const { name, tensor } of weights) if (name === 'iter' && !(tensor instanceof tf.Variable)) tensor.dispose();
}

// The optimizer's state tensors as getWeights lists them (the 'iter' scalar it makes is freed).
async function stateTensors(optimizer: tfc.Optimizer): Promise<tfc.Tensor[]> {
  let w: NamedTensor[];
  try {
    w = await optimizer.getWeights();
  } catch {
    return [];
  }
  disposeMade(w);
  return w.filter((x) => !x.tensor.isDisposed).map((x) => x.tensor);
}
