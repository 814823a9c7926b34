import { InvalidArgumentError } from 'commander';

/** A bad command line found inside an action: printed as one line, exit code 2, no stack. */
export class UsageError extends Error {}

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

/** Parses a plain decimal number of seconds; `null` for anything else (hex, exponents, NaN). */
export function parseSeconds(value: string): number | null {
  if (!/^(\d+\.?\d*|\.\d+)$/.test(value.trim())) return null;
  const seconds = Number(value);
  // setTimeout cannot wait longer than 2^31-1 ms; a larger grace would fire immediately.
  return seconds * 1000 <= 2 ** 31 - 1 ? seconds : null;
}
