/** Parses a plain decimal number of seconds; `null` for anything else (hex, exponents, NaN). */
export function parseSeconds(value: string): number | null {
  if (!/^(\d+\.?\d*|\.\d+)$/.test(value.trim())) return null;
  const seconds = Number(value);
  // setTimeout cannot wait longer than 2^31-1 ms; a larger grace would fire immediately.
  return seconds * 1000 <= 2 ** 31 - 1 ? seconds : null;
}
