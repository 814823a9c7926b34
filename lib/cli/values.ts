import { InvalidArgumentError } from 'commander';
import { checkTransport } from '../comm/config';
import { parseSeconds } from '../common/seconds';

/**
 * A command that cannot go on (a failed worker, a missing prerequisite): `main` prints its
 * message as one line, without a stack, and exits with `exitCode` (1).
 */
export class CommandError extends Error {
  readonly exitCode: number = 1;
}

/** A bad command line found inside an action: printed as one line, exit code 2, no stack. */
export class UsageError extends CommandError {
  override readonly exitCode: number = 2;
}

/** Bytes per unit, as the units' names say: KiB/MiB/GiB powers of 1024, KB/MB/GB of 1000. */
const BYTE_UNITS: Record<string, bigint> = {
  '': 1n,
  b: 1n,
  kb: 10n ** 3n,
  mb: 10n ** 6n,
  gb: 10n ** 9n,
  kib: 2n ** 10n,
  mib: 2n ** 20n,
  gib: 2n ** 30n,
};

/**
 * The CLI's one parser of sizes (`--bytes`, `--min-bytes`, `--grad-bytes`, ...): a plain number
 * is bytes; KiB, MiB and GiB are powers of 1024 and KB, MB and GB powers of 1000, as their names
 * say (units in any case; a bare K, M or G is refused as ambiguous). A decimal such as 1.5MiB is
 * taken when it comes to a whole number of bytes; the arithmetic is exact (BigInt).
 *
 * @throws InvalidArgumentError (commander prints it as one line, exit code 2)
 */
export function parseBytes(value: string): number {
  const m = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? BYTE_UNITS[m[3].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    const bare = m && /^[kmg]$/i.test(m[3]) ? ` (${m[3]} alone is ambiguous: say ${m[3].toUpperCase()}iB or ${m[3].toUpperCase()}B)` : '';
    throw new InvalidArgumentError(`Expected a byte count such as 4096, 64KiB, 1MiB (2^20) or 1MB (10^6)${bare}.`);
  }
  const fraction = m[2] ?? '';
  const scaled = BigInt(m[1] + fraction) * unit;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) throw new InvalidArgumentError(`${value.trim()} is not a whole number of bytes.`);
  const bytes = scaled / divisor;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`${value.trim()} is too large.`);
  return Number(bytes);
}

/**
 * Checks that a size holds whole elements (and at least one, unless `allowZero`).
 *
 * @param flag - the option, for the message (`--min-bytes`)
 * @param what - the elements, for the message (`float32`)
 * @throws UsageError naming the option, the size and the element size
 */
export function checkWholeElements(bytes: number, elementBytes: number, flag: string, what: string, allowZero = false): void {
  if (bytes === 0 && !allowZero) throw new UsageError(`${flag} must be at least one ${what} element (${elementBytes} bytes), got 0`);
  if (bytes % elementBytes !== 0) {
    throw new UsageError(
      `${flag} ${bytes} is not a whole number of ${what} elements (${elementBytes} bytes each): ` +
        `${bytes / elementBytes} elements; say ${Math.floor(bytes / elementBytes) * elementBytes || elementBytes} or ${Math.ceil(bytes / elementBytes) * elementBytes}`,
    );
  }
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
