/**
 * A trainable tensor as plain typed arrays: the one thing optim/, the DistributedOptimizer and
 * the Trainer see of a model. The reference `nn`, a tfjs model or a user's own code all train
 * the same way by exposing their tensors like this.
 */
export interface Parameter {
  /** Unique within the model; the reference model uses torch's `state_dict` names (`'0.weight'`). */
  name: string;
  /** The values, updated in place by the optimizer. */
  data: Float32Array;
  /** The gradient, same length as `data`; written by backward, read by the optimizer. */
  grad: Float32Array;
  /**
   * The tensor's shape, if known (`[out, in]` for a Linear weight). Optional: only its rank is
   * used, by LARS's default exclusion of 1-D tensors (biases, norms).
   */
  shape?: readonly number[];
}

/**
 * Checks a parameter list as every consumer needs it: an array of `{ name, data, grad }` with
 * Float32Arrays of equal length and unique names. Errors name the parameter.
 *
 * @throws TypeError naming the first bad parameter
 */
export function checkParameters(params: unknown, who: string): Parameter[] {
  if (!Array.isArray(params)) throw new TypeError(`${who}: params must be an array of { name, data, grad }`);
  if (params.length === 0) throw new RangeError(`${who}: params is empty`);
  const seen = new Set<string>();
  params.forEach((p: unknown, i: number) => {
    if (p === null || typeof p !== 'object') throw new TypeError(`${who}: params[${i}] must be an object`);
    const { name, data, grad } = p as Partial<Parameter>;
    const label = typeof name === 'string' ? `parameter '${name}'` : `params[${i}]`;
    if (typeof name !== 'string' || name === '') throw new TypeError(`${who}: ${label} needs a name (string)`);
    if (seen.has(name)) throw new TypeError(`${who}: two parameters are named '${name}'`);
    seen.add(name);
    if (!(data instanceof Float32Array)) throw new TypeError(`${who}: ${label}: data must be a Float32Array`);
    if (!(grad instanceof Float32Array)) throw new TypeError(`${who}: ${label}: grad must be a Float32Array`);
    if (grad.length !== data.length) {
      throw new TypeError(`${who}: ${label}: grad has ${grad.length} elements but data has ${data.length}`);
    }
  });
  return params as Parameter[];
}
