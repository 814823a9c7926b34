import { InvalidArgumentError } from 'commander';
import { checkTransport } from '../comm/config';
import { parseSeconds } from '../common/seconds';

/** A bad command line found inside an action: printed as one line, exit code 2, no stack. */
export class UsageError extends Error {}

/** Parses a byte count: a whole number, optionally with K/M/G(i)B (powers of 1024). */
export function parseBytes(value: string): number {
  const m = /^(\d+)\s*(|B|K|KB|KiB|M|MB|MiB|G|GB|GiB)$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('Expected a byte count such as 4096, 1MiB or 256MiB.');
  const unit = m[2].toUpperCase()[0] ?? '';
  const scale = unit === 'K' ? 2 ** 10 : unit === 'M' ? 2 ** 20 : unit === 'G' ? 2 ** 30 : 1;
  return Number(m[1]) * scale;
}

/** Commander argument parser for a comma-separated list of positive integers (`--np 2,16,128`). */
export function positiveIntegerList(value: string): number[] {
  return value.split(',').map((s) => {
    try {
      return positiveInteger(s.trim());
    } catch {
      throw new InvalidArgumentError(`Expected positive integers separated by commas (got '${s}').`);
    }
  });
}

/** Commander argument parser for a positive integer such as a worker count. */
export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('Expected a positive integer.');
  }
  return Number(value);
}

/** Commander argument parser for a duration in seconds greater than zero (fractions allowed). */
export function positiveSeconds(value: string): number {
  const seconds = parseSeconds(value);
  if (seconds === null || seconds === 0) {
    throw new InvalidArgumentError('Expected a number of seconds greater than 0.');
  }
  return seconds;
}

/** Commander argument parser for a duration in seconds that may be zero (fractions allowed). */
export function nonNegativeSeconds(value: string): number {
  const seconds = parseSeconds(value);
  if (seconds === null) throw new InvalidArgumentError('Expected a number of seconds, 0 or more.');
  return seconds;
}

/**
 * Commander argument parser for a transport: `auto` or a registered one. The names come from the
 * addon's registry, loaded only when the option is given, so commands that need no addon work
 * without one.
 */
export function transportName(value: string): string {
  try {
    return checkTransport(value, 'the transport');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
