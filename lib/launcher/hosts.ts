/**
 * Workers on several hosts, as horovodrun starts them: `--hosts h1:2,h2:2` or a hostfile, the
 * ranks filling the hosts in order, each remote worker started through a launcher command (ssh
 * by default; any command that runs its arguments on the host, such as `ip netns exec {host}`).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** One host and how many workers it takes. */
export interface HostSlots {
  host: string;
  slots: number;
}

/** Where each rank runs. */
export interface Placement {
  host: string;
  localRank: number;
  localSize: number;
}

/** `h1:2,h2:2` (a host without `:N` takes one slot). */
export function parseHosts(spec: string): HostSlots[] {
  const out: HostSlots[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*([^\s:,]+)(?::(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`--hosts: '${part}' is not host or host:slots`);
    const slots = m[2] === undefined ? 1 : Number(m[2]);
    if (!(slots >= 1)) throw new Error(`--hosts: ${m[1]} has ${m[2]} slots; give at least 1`);
    out.push({ host: m[1], slots });
  }
  return checkDistinct(out, '--hosts');
}

/** A hostfile: lines `host slots=N` (or `host` for one slot), `#` comments, as Open MPI's. */
export function parseHostfile(file: string): HostSlots[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--hostfile: cannot read ${file}: ${(err as Error).message}`);
  }
  const out: HostSlots[] = [];
  text.split('\n').forEach((line, i) => {
    const body = line.replace(/#.*/, '').trim();
    if (body === '') return;
    const m = /^(\S+)(?:\s+slots\s*=\s*(\d+))?$/.exec(body);
    if (!m) throw new Error(`--hostfile ${file}:${i + 1}: '${line.trim()}' is not 'host slots=N'`);
    const slots = m[2] === undefined ? 1 : Number(m[2]);
    if (!(slots >= 1)) throw new Error(`--hostfile ${file}:${i + 1}: ${m[1]} has ${m[2]} slots; give at least 1`);
    out.push({ host: m[1], slots });
  });
  if (out.length === 0) throw new Error(`--hostfile ${file} lists no host`);
  return checkDistinct(out, `--hostfile ${file}`);
}

function checkDistinct(hosts: HostSlots[], what: string): HostSlots[] {
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.host)) throw new Error(`${what}: ${h.host} is listed twice`);
    seen.add(h.host);
  }
  return hosts;
}

/**
 * Rank r's host: the hosts filled in order (ranks 0..s1-1 on the first, ...), `np` ranks in all.
 *
 * @throws Error when the hosts have fewer slots than np
 */
export function placeRanks(hosts: readonly HostSlots[], np: number): Placement[] {
  const total = hosts.reduce((n, h) => n + h.slots, 0);
  if (np > total) throw new Error(`-np ${np} is more than the ${total} slot(s) of ${hosts.map((h) => `${h.host}:${h.slots}`).join(',')}`);
  const out: Placement[] = [];
  for (const h of hosts) {
    const here = Math.min(h.slots, np - out.length);
    for (let i = 0; i < here; i++) out.push({ host: h.host, localRank: i, localSize: here });
  }
  return out;
}

/** Whether `host` is this machine, where workers start without the launcher command. */
export function isThisHost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === hostname();
}

/** The default launcher command: ssh that never prompts. */
export const SSH = 'ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new {host}';

/** Single-quotes `s` for a POSIX shell (what ssh hands the remote command to). */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The argv that runs `command args` with `env` on `host` through `launcherCmd` (`{host}` is
 * replaced; without it the host is appended): `[...launcher, 'env', K=V..., command, args...]`.
 * Through ssh, every word is shell-quoted, since ssh joins them into one remote shell command.
 */
export function remoteArgv(launcherCmd: string, host: string, env: Record<string, string>, command: string, args: readonly string[]): string[] {
  const words = launcherCmd.trim().split(/\s+/);
  const launcher = words.some((w) => w.includes('{host}')) ? words.map((w) => w.replaceAll('{host}', host)) : [...words, host];
  const rest = ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args];
  const viaShell = /(^|\/)ssh$/.test(launcher[0]);
  return [...launcher, ...(viaShell ? rest.map(shellQuote) : rest)];
}
