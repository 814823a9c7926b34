import type { Communicator } from '../comm/communicator';
import { getCommunicator } from '../comm/world';
import { checkParameters, type Parameter } from '../common/parameter';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer';

type HasParameters = { parameters(): Parameter[] };

function paramsOf(p: Parameter[] | HasParameters, who: string): Parameter[] {
  return checkParameters(Array.isArray(p) ? p : p?.parameters?.(), who);
}

/**
 * Copies `root`'s parameter values to every rank (Horovod's broadcast_parameters), so all
 * workers start from the same model. Accepts a parameter list or a model with parameters().
 */
export async function broadcastParameters(
  params: Parameter[] | HasParameters,
  root = 0,
  options: { communicator?: Communicator } = {},
): Promise<void> {
  const list = paramsOf(params, 'broadcastParameters');
  const comm = options.communicator ?? getCommunicator('broadcastParameters');
  await Promise.all(list.map((p) => comm.broadcast(p.data, root)));
}

// The state dict with its tensors listed in a fixed order (by parameter, then key), and the
// rest as JSON.
function split(sd: OptimizerStateDict): { meta: string; tensors: Float32Array[] } {
  const tensors: Float32Array[] = [];
  const layout: Record<string, Record<string, number>> = {};
  for (const name of Object.keys(sd.state)) {
    layout[name] = {};
    for (const key of Object.keys(sd.state[name]).sort()) {
      layout[name][key] = sd.state[name][key].length;
      tensors.push(sd.state[name][key]);
    }
  }
  return { meta: JSON.stringify({ type: sd.type, step: sd.step, hyper: sd.hyper, layout }), tensors };
}

/** Root's string on every rank (a length, then UTF-16 code units as int32). */
export async function broadcastString(s: string | undefined, root: number, comm: Communicator): Promise<string> {
  const len = Int32Array.of(s?.length ?? 0);
  await comm.broadcast(len, root);
  const codes = new Int32Array(len[0]);
  if (comm.rank === root && s) for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  await comm.broadcast(codes, root);
  let out = '';
  for (const c of codes) out += String.fromCharCode(c);
  return out;
}

/**
 * Copies `root`'s optimizer state (momentum buffers, step count, hyperparameters including the
 * learning rate) to every rank (Horovod's broadcast_optimizer_state). Works with any optimizer
 * that has stateDict()/loadStateDict(), a DistributedOptimizer included.
 */
export async function broadcastOptimizerState(
  optimizer: Optimizer | { stateDict(): OptimizerStateDict; loadStateDict(s: OptimizerStateDict): void },
  root = 0,
  options: { communicator?: Communicator } = {},
): Promise<void> {
  if (!optimizer || typeof optimizer.stateDict !== 'function' || typeof optimizer.loadStateDict !== 'function') {
    throw new TypeError('broadcastOptimizerState: needs an optimizer with stateDict() and loadStateDict()');
  }
  const comm = options.communicator ?? getCommunicator('broadcastOptimizerState');
  if (comm.size === 1) return;
  const mine = split(optimizer.stateDict());
  const meta = JSON.parse(await broadcastString(comm.rank === root ? mine.meta : undefined, root, comm)) as {
    type: string;
    step: number;
    hyper: OptimizerStateDict['hyper'];
    layout: Record<string, Record<string, number>>;
  };
  // Every rank allocates from root's layout, so the broadcasts agree even where states differ.
  const state: OptimizerStateDict['state'] = {};
  const tensors: Float32Array[] = [];
  for (const name of Object.keys(meta.layout)) {
    state[name] = {};
    for (const key of Object.keys(meta.layout[name])) {
      const t = comm.rank === root ? mine.tensors[tensors.length] : new Float32Array(meta.layout[name][key]);
      state[name][key] = t;
      tensors.push(t);
    }
  }
  await Promise.all(tensors.map((t) => comm.broadcast(t, root)));
  if (comm.rank !== root) optimizer.loadStateDict({ type: meta.type, step: meta.step, hyper: meta.hyper, state });
}
