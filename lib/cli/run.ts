import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { bindToFromEnv, graceFromEnv, interfaceAddress, localSizeFromEnv, timelineFromLauncherEnv } from '../comm/config';
import { cpuPlan, findTaskset, type BindTo } from '../launcher/cpu-affinity';
import { runJob, type ElasticLaunch } from '../launcher/job';
import { parseHostfile, parseHosts, placeRanks, type HostSlots } from '../launcher/hosts';
import { nonNegativeSeconds, positiveInteger, positiveSeconds, transportName, UsageError } from './values';

/** Grace period after a worker failure when neither --grace nor DTRAIN_GRACE is given. */
const DEFAULT_GRACE_SECONDS = 5;

interface RunOptions {
  np?: number;
  hosts?: string;
  hostfile?: string;
  launcherCmd?: string;
  networkInterface?: string;
  elastic?: boolean;
  minNp?: number;
  maxNp?: number;
  respawn?: boolean;
  elasticTimeout?: number;
  store?: string;
  hostDiscoveryScript?: string;
  servers?: number;
  timeline?: string;
  transport?: string;
  timeout?: number;
  grace?: number;
  bindTo?: BindTo;
}

/**
 * Adds `dtrain run -np N [options] script.js [args...]`: runs N workers of a script on this host.
 * Exit code: 0 when every worker exits 0, the first failing worker's code (128 + signal number
 * if it was killed), 130/143 when the launcher is interrupted, 2 for usage errors.
 */
export function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run N workers of a Node.js script on this host, connected as one job')
    .usage('-np <N> [options] <script> [args...]')
    .option(
      '-n, --np <N>',
      'number of workers (mpirun-style -np N also works); with --elastic, how many to start (default --max-np, else --min-np)',
      positiveInteger,
    )
    .option('--elastic', 'the job survives lost workers and admits new ones at commits (dtrain.elastic, the Trainer\'s elastic: true; docs/elastic.md)')
    .option('--min-np <M>', 'with --elastic: keep training while at least M workers live (default 1)', positiveInteger)
    .option('--max-np <N>', 'with --elastic: the most workers a generation takes (default -np)', positiveInteger)
    .option('--respawn', 'with --elastic: start a replacement (up to --max-np) when a worker is killed')
    .option('--elastic-timeout <seconds>', 'with --elastic: how long workers wait below --min-np before failing (default 600)', positiveSeconds)
    .option('--store <url>', 'with --elastic: agree on membership in etcd (etcd://host:port,...) instead of the launcher\'s store')
    .option('--hosts <list>', 'run the ranks on these hosts, filled in order: h1:2,h2:2 (each host:slots); other hosts through --launcher-cmd (ssh by default)')
    .option('--hostfile <file>', "like --hosts, from a file of 'host slots=N' lines")
    .option('--launcher-cmd <cmd>', "how a worker starts on another host, {host} replaced (default 'ssh -o BatchMode=yes {host}'); e.g. 'ip netns exec {host}'")
    .option('--network-interface <name>', 'exported as DTRAIN_IFACE: every host publishes this interface\'s address, and the store listens on it here')
    .option('--host-discovery-script <file>', 'with --elastic: a script printing host:slots lines, run every 2 s; this host\'s slots set how many workers run (with --hosts, each listed host\'s)')
    .option(
      '--servers <K>',
      'also start K parameter servers (ranks N..N+K-1) for dtrain.ps; a lost worker then does not stop the job',
      positiveInteger,
    )
    .option(
      '--timeline <file>',
      'exported as DTRAIN_TIMELINE: every rank records a Chrome-trace timeline, merged into FILE at the end (open it in ui.perfetto.dev)',
    )
    .option('--transport <kind>', 'exported as DTRAIN_TRANSPORT: auto, shm, tcp (dtrain info lists them)', transportName)
    .option(
      '--timeout <seconds>',
      'exported as DTRAIN_TIMEOUT: seconds before a collective gives up',
      positiveSeconds,
    )
    .option(
      '--grace <seconds>',
      'after a worker fails, seconds the others get to exit before SIGTERM ' +
        `(default: DTRAIN_GRACE or ${DEFAULT_GRACE_SECONDS})`,
      nonNegativeSeconds,
    )
    .option(
      '--bind-to <what>',
      'core: each worker on a CPU of its own (needs taskset); none: the scheduler places them; ' +
        'auto (default, or DTRAIN_BIND_TO): core when there is a CPU per worker',
      bindTo,
    )
    .argument('<script>', 'worker script, run with this Node.js binary')
    .argument('[args...]', 'arguments for the script, passed through untouched')
    // Everything after the script belongs to the script, even options dtrain also knows.
    .passThroughOptions()
    .action(async (script: string, args: string[], options: RunOptions, command: Command) => {
      const path = resolve(script);
      if (!isFile(path)) command.error(`dtrain: script not found: ${script}`, { exitCode: 2 });
      const hosts = hostOptions(options);
      const elastic = elasticOptions(options, hosts?.reduce((n, h) => n + h.slots, 0));
      // With --hosts, the workers and then the servers fill the slots in order: by default every
      // slot the servers leave.
      const np = options.np ?? elastic?.start ?? (hosts ? hosts.reduce((n, h) => n + h.slots, 0) - (options.servers ?? 0) : undefined);
      if (np === undefined) command.error("dtrain: required option '-n, --np <N>' not specified", { exitCode: 2 });
      let graceSeconds: number;
      let groupSize: number | undefined;
      let cpus: number[][] | undefined;
      const taskset = findTaskset();
      try {
        graceSeconds = options.grace ?? graceFromEnv() ?? DEFAULT_GRACE_SECONDS;
        groupSize = localSizeFromEnv();
        // Binding is for workers on this host alone; a multi-host job leaves placement to each.
        cpus = hosts ? undefined : cpuPlan(np + (options.servers ?? 0), options.bindTo ?? bindToFromEnv() ?? 'auto', undefined, taskset ?? null);
        if (hosts && np < 1) throw new Error(`--servers ${options.servers} leaves no slot of ${options.hosts ?? options.hostfile} for a worker; add slots`);
        const slots = hosts?.reduce((n, h) => n + h.slots, 0) ?? 0;
        if (hosts && options.servers && np + options.servers > slots) {
          throw new Error(`-np ${np} and --servers ${options.servers} need ${np + options.servers} slots; ${options.hosts ?? options.hostfile} has ${slots}`);
        }
        if (hosts) placeRanks(hosts, np + (options.servers ?? 0));
        if (options.networkInterface !== undefined) interfaceAddress(options.networkInterface, '--network-interface');
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      // A closed stdout (e.g. piped into `head`) must not crash the launcher and orphan the job.
      process.stdout.on('error', () => {});
      process.exitCode = await runJob({
        size: np,
        elastic: elastic?.launch,
        hosts,
        launcherCmd: options.launcherCmd,
        networkInterface: options.networkInterface,
        servers: options.servers ?? 0,
        timeline: options.timeline ?? timelineFromLauncherEnv(),
        script: path,
        args,
        transport: options.transport,
        timeoutSeconds: options.timeout,
        graceSeconds,
        groupSize,
        cpus,
        taskset,
      });
    });
}

/** The --elastic options, checked; undefined without --elastic (the other options then are errors). */
function elasticOptions(o: RunOptions, slots?: number): { start: number; launch: ElasticLaunch } | undefined {
  const given = (['minNp', 'maxNp', 'respawn', 'elasticTimeout', 'store', 'hostDiscoveryScript'] as const).filter((k) => o[k] !== undefined);
  if (!o.elastic) {
    if (given.length > 0) throw new UsageError(`--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --elastic`);
    return undefined;
  }
  if (o.servers !== undefined) throw new UsageError('--elastic and --servers cannot be combined: a parameter-server job already survives lost workers');
  const minNp = o.minNp ?? 1;
  // With --hosts, the slots are what a job of unstated size fills, and what it may grow to.
  const np = o.np ?? (slots === undefined ? undefined : o.maxNp !== undefined ? Math.min(o.maxNp, slots) : slots);
  const maxNp = o.maxNp ?? Math.max(np ?? minNp, minNp);
  if (minNp > maxNp) throw new UsageError(`--min-np (${minNp}) must not exceed --max-np (${maxNp})`);
  const start = np ?? (o.maxNp !== undefined ? maxNp : minNp);
  if (start < minNp || start > maxNp) throw new UsageError(`-np ${start} must lie between --min-np ${minNp} and --max-np ${maxNp}`);
  if (o.store !== undefined && !/^etcd:\/\/[^,\s]+(,[^,\s]+)*$/.test(o.store)) throw new UsageError(`--store must be etcd://host:port[,host:port...], got '${o.store}'`);
  if (o.hostDiscoveryScript !== undefined && !isFile(resolve(o.hostDiscoveryScript))) throw new UsageError(`--host-discovery-script: no such file: ${o.hostDiscoveryScript}`);
  if (o.hostDiscoveryScript !== undefined && maxNp === start) {
    process.stderr.write(`dtrain: --max-np is ${maxNp}, the workers started, so the discovery script can only replace workers, not add any\n`);
  }
  return {
    start,
    launch: {
      minNp,
      maxNp,
      respawn: o.respawn === true,
      timeoutSec: o.elasticTimeout ?? 600,
      store: o.store,
      discoveryScript: o.hostDiscoveryScript === undefined ? undefined : resolve(o.hostDiscoveryScript),
    },
  };
}

/** --hosts or --hostfile, checked (not both). */
function hostOptions(o: RunOptions): HostSlots[] | undefined {
  if (o.hosts !== undefined && o.hostfile !== undefined) throw new UsageError('give --hosts or --hostfile, not both');
  if (o.hosts === undefined && o.hostfile === undefined) {
    if (o.launcherCmd !== undefined) throw new UsageError('--launcher-cmd needs --hosts or --hostfile');
    return undefined;
  }
  try {
    return o.hosts !== undefined ? parseHosts(o.hosts) : parseHostfile(o.hostfile as string);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function bindTo(v: string): BindTo {
  if (v !== 'auto' && v !== 'core' && v !== 'none') throw new UsageError(`--bind-to must be auto, core or none, got '${v}'`);
  return v;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
