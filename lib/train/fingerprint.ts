import type { Communicator } from '../comm/communicator';
import type { Parameter } from '../common/parameter';
import { DtrainError } from '../common/errors';

/** What the fingerprint sees of a parameter (a tfjs variable passes `{ name, data: { length } }`). */
export type ParameterShape = Pick<Parameter, 'name'> & { data: { readonly length: number } };

// FNV-1a over a parameter's name and length, as a signed 32-bit integer (what int32 carries).
function hashParam(p: ParameterShape): number {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h = Math.imul(h ^ v, 0x01000193);
  };
  for (let i = 0; i < p.name.length; i++) mix(p.name.charCodeAt(i));
  mix(0);
  mix(p.data.length & 0xffff);
  mix(p.data.length >>> 16);
  return h | 0;
}

function rowsOf(all: Int32Array, width: number, size: number): Int32Array[] {
  return Array.from({ length: size }, (_, r) => all.subarray(r * width, (r + 1) * width));
}

function sameRow(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const NAME_CHARS = 128;

/**
 * Checks, with blocking all-gathers, that every rank holds the same parameters (names, lengths,
 * order). Ranks whose models differ all get the same error, naming the first differing
 * parameter and which ranks have what; never a hang or a silently wrong average. Every rank
 * runs the same rounds (decided by what all of them sent), so none is left waiting.
 *
 * @throws Error with code ERR_DTRAIN_MISMATCH and `ranks` (those outside the largest group)
 */
export function checkSameParameters(params: readonly ParameterShape[], comm: Communicator, who: string): void {
  if (comm.size === 1) return;
  let all = 0x811c9dc5;
  let total = 0;
  for (const p of params) {
    all = Math.imul(all ^ hashParam(p), 0x01000193);
    total += p.data.length;
  }
  const summary = Int32Array.of(params.length, all | 0, total % 0x40000000, Math.floor(total / 0x40000000));
  const rows = rowsOf(comm.allgatherSync(summary), 4, comm.size);
  if (rows.every((r) => sameRow(r, rows[0]))) return;

  // Round 2: every rank's (hash, length) per position, padded to the longest list.
  const longest = Math.max(...rows.map((r) => r[0]));
  const mine = new Int32Array(2 * longest).fill(-1);
  params.forEach((p, i) => {
    mine[2 * i] = hashParam(p);
    mine[2 * i + 1] = p.data.length;
  });
  const lists = rowsOf(comm.allgatherSync(mine), 2 * longest, comm.size);
  let at = 0;
  while (at < longest && lists.every((l) => l[2 * at] === lists[0][2 * at] && l[2 * at + 1] === lists[0][2 * at + 1])) at++;

  // Round 3: the name each rank has at that position.
  const name = new Int32Array(NAME_CHARS);
  const own = params[at]?.name ?? '';
  for (let i = 0; i < Math.min(own.length, NAME_CHARS); i++) name[i] = own.charCodeAt(i);
  const names = rowsOf(comm.allgatherSync(name), NAME_CHARS, comm.size).map((r) => {
    let s = '';
    for (const c of r) {
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  });

  // Group ranks by what they have at `at`, largest group first.
  const groups = new Map<string, number[]>();
  for (let r = 0; r < comm.size; r++) {
    const len = lists[r][2 * at + 1];
    const what = len < 0 ? 'no parameter' : `'${names[r]}' (${len} elements)`;
    groups.set(what, [...(groups.get(what) ?? []), r]);
  }
  const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[1][0] - b[1][0]);
  const described = ordered
    .map(([what, ranks]) => `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} ${ranks.length > 1 ? 'have' : 'has'} ${what}`)
    .join('; ');
  const counts = rows.map((r) => r[0]);
  const countNote = counts.every((c) => c === counts[0]) ? '' : ` (parameter counts per rank: ${counts.join(', ')})`;
  throw new DtrainError(
    `${who}: the ranks' models differ at parameter #${at}: ${described}${countNote}. ` +
      'Every rank must build the same model: the same parameter names and sizes in the same order.',
    'ERR_DTRAIN_MISMATCH',
    ordered.slice(1).flatMap(([, r]) => r).sort((a, b) => a - b),
  );
}

const SETTINGS_CHARS = 256;

/**
 * Checks, with one blocking all-gather, that every rank passed the same settings string (the
 * compressor's configuration, loss scaling): ranks that differ would exchange messages of
 * different formats. Every rank gets the same error, naming who has what.
 *
 * @throws Error with code ERR_DTRAIN_MISMATCH and `ranks` (those outside the largest group)
 */
export function checkSameSettings(
  settings: string,
  comm: Communicator,
  who: string,
  advice = 'Every rank must use the same compression and loss scaling.',
): void {
  if (comm.size === 1) return;
  // Its length, its first SETTINGS_CHARS characters and a hash of all of them.
  const mine = new Int32Array(SETTINGS_CHARS + 2);
  mine[0] = settings.length;
  let h = 0x811c9dc5;
  for (let i = 0; i < settings.length; i++) h = Math.imul(h ^ settings.charCodeAt(i), 0x01000193);
  mine[SETTINGS_CHARS + 1] = h | 0;
  for (let i = 0; i < Math.min(settings.length, SETTINGS_CHARS); i++) mine[i + 1] = settings.charCodeAt(i);
  const rows = rowsOf(comm.allgatherSync(mine), SETTINGS_CHARS + 2, comm.size);
  if (rows.every((r) => sameRow(r, rows[0]))) return;
  const text = rows.map((r) => {
    let s = '';
    for (let i = 1; i <= Math.min(r[0], SETTINGS_CHARS); i++) s += String.fromCharCode(r[i]);
    return s;
  });
  const groups = new Map<string, number[]>();
  text.forEach((t, r) => groups.set(t, [...(groups.get(t) ?? []), r]));
  const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[1][0] - b[1][0]);
  throw new DtrainError(
    `${who}: the ranks are configured differently: ${ordered
      .map(([t, ranks]) => `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} ${ranks.length > 1 ? 'have' : 'has'} '${t}'`)
      .join('; ')}. ${advice}`,
    'ERR_DTRAIN_MISMATCH',
    ordered.slice(1).flatMap(([, r]) => r).sort((a, b) => a - b),
  );
}
