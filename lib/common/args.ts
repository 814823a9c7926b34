/**
 * Argument checks shared by every module: errors name the argument and what was expected, and
 * options objects reject keys they do not know (a typo is worth an error, not a silent default).
 */

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int32ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | Uint8ArrayConstructor;

/** Throws a TypeError unless `value` is an instance of `ctor`. */
export function expectArray<C extends TypedArrayCtor>(
  value: unknown,
  ctor: C,
  name: string,
): asserts value is InstanceType<C> {
  if (!(value instanceof ctor)) {
    throw new TypeError(`${name} must be a ${ctor.name}, got ${describe(value)}`);
  }
}

/** A finite number, or the default when undefined (required when there is no default). */
export function finiteNumber(value: unknown, name: string, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be finite, got ${value}`);
  return value;
}

/** An integer in [min, max], or the default when undefined. */
export function integer(value: unknown, name: string, min: number, max: number, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Throws a RangeError unless `length` equals `want`. */
export function sameLength(length: number, want: number, name: string, other: string): void {
  if (length !== want) throw new RangeError(`${name} has length ${length}; ${other} has ${want}`);
}

/** The caller's `out` (checked: type and length) or a new array of `length` elements. */
export function outputArray<C extends TypedArrayCtor>(out: unknown, ctor: C, length: number, of: string): InstanceType<C> {
  if (out === undefined) return new ctor(length) as InstanceType<C>;
  expectArray(out, ctor, 'out');
  sameLength(out.length, length, 'out', of);
  return out;
}

const NO_OPTIONS = Object.freeze({});

/**
 * An options object (undefined: `{}`). Throws a TypeError for anything that is not an object,
 * or that has a key outside `known`; the message starts with `fn: ` when a function is named.
 */
export function checkOptions<T extends object>(value: T | undefined, known: readonly string[], fn?: string): Partial<T> {
  if (value === undefined) return NO_OPTIONS;
  const prefix = (): string => (fn === undefined ? '' : `${fn}: `);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) {
    throw new TypeError(`${prefix()}options must be an object, got ${describe(value)}`);
  }
  for (const key in value) {
    if (Object.hasOwn(value, key) && !known.includes(key)) {
      throw new TypeError(`${prefix()}unknown option '${key}'; the options are ${known.join(', ')}`);
    }
  }
  return value;
}

/** A fresh 32-bit seed for the stochastic quantizers when the caller gives none. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

/** Element indices are uint32 in the native kernels. */
export const MAX_LENGTH = 0xffffffff;

/** A value's kind for an error message: null, a typed array's class, or its typeof. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}
