import type { Command } from 'commander';

/**
 * Rewrites mpirun-style `-np N` / `-np=N` to `--np N` / `--np=N` for a subcommand that has an
 * `--np` option. Commander has no single-dash long options: left alone, `-np 4` would parse as
 * `-n p` followed by a stray `4`.
 *
 * Only the subcommand's own options are rewritten. Scanning stops at its first positional
 * argument (the script) or `--`, so arguments meant for the script are never touched. The values
 * of the subcommand's options are skipped, so `--grace -np` style oddities are not misread.
 *
 * @param argv - full `process.argv`-style array (runtime and script path first)
 * @returns a new array
 */
export function normalizeArgv(program: Command, argv: readonly string[]): string[] {
  const out = [...argv];
  let i = 2;
  // Program-level flags (--help, --version) take no values, so the first positional is the
  // subcommand name.
  while (i < out.length && out[i].startsWith('-')) i++;
  // Descend through nested subcommands (`bench allreduce`) to the one that takes options.
  let sub: Command | undefined = program;
  for (;;) {
    const name = out[i];
    const next: Command | undefined = sub.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (!next) break;
    sub = next;
    i++;
  }
  i--;
  if (sub === program || !sub.options.some((o) => o.long === '--np')) return out;

  for (let j = i + 1; j < out.length; j++) {
    const arg = out[j];
    if (arg === '--' || arg === '-' || !arg.startsWith('-')) break;
    if (arg === '-np') out[j] = '--np';
    else if (arg.startsWith('-np=')) out[j] = `--np=${arg.slice(4)}`;
    const option = sub.options.find((o) => o.short === out[j] || o.long === out[j]);
    const next = out[j + 1];
    if (option?.required || (option?.optional && next !== undefined && !next.startsWith('-'))) {
      j++;
    }
  }
  return out;
}
