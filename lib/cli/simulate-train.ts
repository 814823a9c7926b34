import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { loadBinding, type CostModel, type SimulationResult } from '../native';
import { measureCodec, modelledCodec, noCodec, type CodecCost } from './simulate-codec';
import { computeFromRun, type ComputeSource } from './simulate-compute';
import { COMPRESSIONS, compressionList, parseCompression, wireBytes, type WireFormat } from './simulate-formats';
import { modelFrom, NETWORKS, type ModelOptions } from './simulate-network';
import { stepTime } from './simulate-step';
import { lineChartSvg } from './svg-lines';
import { parseBytes, positiveInteger } from './values';

/** The reference model, 784-512-256-10 MLP: 535,818 float32 parameters in 6 tensors. */
export const REFERENCE_GRAD_BYTES = 4 * (784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
export const REFERENCE_TENSORS = 6;

/** `dtrain simulate`'s options as --train reads them. */
export interface TrainSimOptions extends ModelOptions {
  np: number[];
  algo?: string;
  computeMs?: number;
  from?: string;
  batchPerWorker?: number;
  gradBytes?: number;
  tensors?: number;
  compression?: WireFormat[];
  overlap?: number;
  measureCodec?: boolean;
  decodeGbps?: number;
  hosts?: number;
  ranksPerHost?: number;
  intraAlpha?: number;
  intraBeta?: number;
  plot?: string;
  json?: boolean;
}

/** The options only --train reads (an error without it), as commander names them. */
export const TRAIN_ONLY: readonly (keyof TrainSimOptions)[] = [
  'computeMs',
  'from',
  'batchPerWorker',
  'gradBytes',
  'tensors',
  'compression',
  'overlap',
  'measureCodec',
  'decodeGbps',
  'ranksPerHost',
  'plot',
];

function positiveNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError('Expected a number > 0.');
  return v;
}

function fraction(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw new InvalidArgumentError('Expected a fraction from 0 to 1.');
  }
  return v;
}

/** Adds --train and the options it reads to `dtrain simulate`. */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--train', 'predict the step time and scaling efficiency of data-parallel training instead (see below)')
    .option('--compute-ms <ms>', '--train: compute time of one step on one worker', positiveNumber)
    .option('--from <file>', "--train: take compute from the example's --json output: step_ms - comm_wait_ms ('-': stdin)")
    .option('--batch-per-worker <B>', "--train: per-worker batch (with --from: compute scaled by B / the run's batch)", positiveInteger)
    .option('--grad-bytes <B>', `--train: float32 gradient bytes (default ${REFERENCE_GRAD_BYTES}, the 784-512-256-10 MLP)`, parseBytes)
    .option('--tensors <T>', `--train: gradient tensors, for onebit's scales per 512 elements of each tensor (default ${REFERENCE_TENSORS})`, positiveInteger)
    .option('--compression <list>', `--train: ${COMPRESSIONS.join(',')} (dgc:DENSITY, qsgd:LEVELS; default all)`, compressionList)
    .option('--overlap <F>', '--train: fraction of communication that may hide behind compute (default 0)', fraction)
    .option('--measure-codec', "--train: time this machine's encode and decode kernels and add them to the step")
    .option('--decode-gbps <G>', '--train: add decoding at G GB/s of float32 output per block (encoding left out)', positiveNumber)
    .option('--ranks-per-host <K>', '--train: hosts of K consecutive ranks (for hierarchical and --intra-*)', positiveInteger)
    .option('--plot <file.svg>', '--train: draw efficiency against ranks (log scale) for each algorithm x compression')
    .addHelpText(
      'after',
      `
With --train: for each P in --np (a list: --np 2,16,128,2048), each compression and each
algorithm (--algo, a list; default every all-reduce algorithm of the registry), the exchange
of one step's gradients is simulated with the real schedules: none and fp16 by all-reduce,
dgc, qsgd, terngrad and onebit by all-gather (with the algorithms that have an all-gather
schedule). step = compute + encode + comm - hidden + decode, hidden = min(overlap x comm,
compute); efficiency = compute / step (weak scaling). Networks (--network), one link per rank:
${Object.entries(NETWORKS)
  .map(([k, v]) => `  ${k.padEnd(7)} ${v.summary}`)
  .join('\n')}`,
    );
}

/** One predicted (P, algorithm, compression). */
export interface TrainRow {
  np: number;
  algo: string;
  compression: string;
  collective: 'allreduce' | 'allgather';
  hosts?: number;
  bytesPerRank: number;
  bytesSentPerRank: number;
  computeMs: number;
  encodeMs: number;
  commMs: number;
  hiddenMs: number;
  decodeMs: number;
  stepMs: number;
  efficiency: number;
  samplesPerS?: number;
}

/** Usage errors inside the action: the message, exit code 2, no stack. */
class TrainUsage extends Error {}

/**
 * `dtrain simulate --train`: checks the command line, simulates every (P, algorithm,
 * compression), prints a table (or JSON lines) and draws the plot.
 */
export function runTrainSimulation(o: TrainSimOptions, command: Command): void {
  try {
    const plan = planFrom(o);
    const rows = predict(plan);
    if (o.json) {
      for (const r of rows) process.stdout.write(`${JSON.stringify(rowJson(r, plan))}\n`);
    } else {
      process.stdout.write(table(rows, plan));
    }
    for (const note of plan.notes) process.stderr.write(`dtrain: note: ${note}\n`);
    if (o.plot) {
      writeFileSync(o.plot, plot(rows, plan));
      if (!o.json) process.stdout.write(`wrote ${o.plot}\n`);
    }
  } catch (err) {
    if (!(err instanceof TrainUsage)) throw err;
    command.error(`dtrain: ${err.message}`, { exitCode: 2 });
  }
}

/** Everything the predictions need, checked. */
interface Plan {
  nps: number[];
  algos: string[];
  allgatherAlgos: Set<string>;
  formats: WireFormat[];
  compute: ComputeSource;
  gradBytes: number;
  tensors: number;
  overlap: number;
  codec: (f: WireFormat) => CodecCost;
  codecKind: 'left out' | 'measured' | 'modelled';
  codecNote: string;
  hostsFor: (np: number) => number | undefined;
  /** The model in force (the given one, the addon's defaults filled in). */
  model: CostModel;
  modelName: string;
  intra: { alphaIntra?: number; betaIntra?: number };
  notes: string[];
}

function planFrom(o: TrainSimOptions): Plan {
  const binding = loadBinding();
  const usage = (msg: string): never => {
    throw new TrainUsage(msg);
  };
  if (o.computeMs !== undefined && o.from !== undefined) usage('--compute-ms and --from are two compute times: give one');
  if (o.computeMs === undefined && o.from === undefined) {
    usage("--train needs the compute time: --compute-ms MS, or --from FILE (the example's --json output)");
  }
  let compute: ComputeSource;
  if (o.from !== undefined) {
    try {
      compute = computeFromRun(o.from, o.batchPerWorker);
    } catch (err) {
      return usage((err as Error).message);
    }
  } else {
    const b = o.batchPerWorker;
    compute = { computeMs: o.computeMs as number, batchPerWorker: b, describe: `--compute-ms${b ? `, batch ${b} per worker` : ''}` };
  }
  const gradBytes = o.gradBytes ?? REFERENCE_GRAD_BYTES;
  if (gradBytes <= 0 || gradBytes % 4 !== 0) usage(`--grad-bytes must be a positive multiple of 4 (float32 gradients), got ${gradBytes}`);
  if (o.measureCodec && o.decodeGbps !== undefined) usage('--measure-codec and --decode-gbps are two codec costs: give one');
  if (o.hosts !== undefined && o.ranksPerHost !== undefined) usage('--hosts and --ranks-per-host both say where ranks live: give one');
  const grouped = o.hosts !== undefined || o.ranksPerHost !== undefined;
  if (!grouped && (o.intraAlpha !== undefined || o.intraBeta !== undefined)) {
    usage('--intra-alpha/--intra-beta describe the link within a host: give --ranks-per-host K or --hosts H too');
  }
  for (const np of o.np) if (o.hosts !== undefined && o.hosts > np) usage(`--hosts ${o.hosts} exceeds --np ${np}`);
  let given: ReturnType<typeof modelFrom>;
  try {
    given = modelFrom(o);
  } catch (err) {
    return usage((err as Error).message);
  }

  // Algorithms: the registry's all-reduce ones, or the --algo list, each checked. Algorithms
  // that a library runs (mpi) have no schedule to simulate.
  const registry = binding.registry.algorithms.filter((a) => a.backend == null);
  const base = (name: string) => name.split(':')[0];
  const allgatherAlgos = new Set(registry.filter((a) => a.collectives.includes('allgather')).map((a) => a.name));
  const notes: string[] = [];
  let algos: string[];
  if (o.algo !== undefined) {
    algos = o.algo.split(',').map((s) => s.trim());
    for (const a of algos) {
      if (a === 'auto') usage('name algorithms: auto is what the simulator decides between');
      try {
        binding.algorithmId(a);
      } catch (err) {
        usage((err as Error).message);
      }
      if (!registry.some((d) => d.name === base(a))) usage(`${a} runs a library's own collective: it has no schedule to simulate`);
      if (!grouped && registry.find((d) => d.name === base(a))?.takesInner) {
        usage(`${a} needs hosts (--ranks-per-host K or --hosts H): without them every rank is its own host and it is the ring`);
      }
    }
  } else {
    algos = registry.filter((a) => a.collectives.includes('allreduce')).map((a) => a.name);
    if (!grouped) {
      const skipped = algos.filter((a) => registry.find((d) => d.name === a)?.takesInner);
      algos = algos.filter((a) => !skipped.includes(a));
      if (skipped.length) notes.push(`${skipped.join(', ')} left out: it needs --ranks-per-host K (or --hosts H)`);
    }
  }
  const formats = o.compression ?? COMPRESSIONS.map((c) => parseCompression(c));
  const gathered = formats.filter((f) => f.collective === 'allgather');
  if (gathered.length) {
    const usable = algos.filter((a) => allgatherAlgos.has(base(a)));
    const without = algos.filter((a) => !allgatherAlgos.has(base(a)));
    if (!usable.length) {
      usage(
        `${gathered.map((f) => f.name).join(', ')} travel${gathered.length > 1 ? '' : 's'} by all-gather, which ` +
          `${algos.join(', ')} ${algos.length > 1 ? 'do' : 'does'} not implement; all-gather algorithms: ${[...allgatherAlgos].join(', ')}`,
      );
    }
    if (without.length) {
      notes.push(`${gathered.map((f) => f.name).join(', ')} travel by all-gather: simulated with ${usable.join(', ')} only (${without.join(', ')} ha${without.length > 1 ? 've' : 's'} no all-gather schedule)`);
    }
  }

  const n = gradBytes / 4;
  const cache = new Map<string, CodecCost>();
  let codec: (f: WireFormat) => CodecCost = noCodec;
  let codecKind: Plan['codecKind'] = 'left out';
  let codecNote = 'encode and decode left out (--measure-codec or --decode-gbps G adds them)';
  if (o.measureCodec) {
    codec = (f) => cache.get(f.name) ?? cache.set(f.name, measureCodec(f, n)).get(f.name)!;
    codecKind = 'measured';
    codecNote = `encode and decode timed on this machine (dtrain.kernels at ${binding.kernels.info().isa}, best of runs on ${n} synthetic gradients); decode: one block for fp16, one per rank for the all-gather formats`;
  } else if (o.decodeGbps !== undefined) {
    const g = o.decodeGbps;
    codec = (f) => modelledCodec(f, n, g);
    codecKind = 'modelled';
    codecNote = `decode at ${g} GB/s of float32 output per block (one block for fp16, one per rank for the all-gather formats); encode left out`;
  }
  // The model in force, defaults filled in: what a trivial simulation reports.
  const sim = binding.simulate({ algorithm: 'ring', np: 1, bytes: 0, ...given });
  return {
    nps: o.np,
    algos,
    allgatherAlgos,
    formats,
    compute,
    gradBytes,
    tensors: o.tensors ?? REFERENCE_TENSORS,
    overlap: o.overlap ?? 0,
    codec,
    codecKind,
    codecNote,
    hostsFor: (np) => (o.hosts !== undefined ? o.hosts : o.ranksPerHost !== undefined ? Math.ceil(np / o.ranksPerHost) : undefined),
    model: { alpha: sim.model.alpha, beta: sim.model.beta, gamma: sim.model.gamma },
    modelName: modelName(o),
    intra: { alphaIntra: o.intraAlpha, betaIntra: o.intraBeta },
    notes,
  };
}

/** What the header calls the model: the preset it started from, and whether flags changed it. */
function modelName(o: TrainSimOptions): string {
  const base = o.network ?? (o.transport && o.transport !== 'auto' ? `${o.transport} (its calibration, else its default)` : undefined);
  const given = (['alpha', 'beta', 'gamma'] as const).filter((k) => o[k] !== undefined).map((k) => `--${k}`);
  if (!given.length) return base ?? "the addon's default";
  return base ? `${base} with ${given.join(', ')} given` : `${given.join(', ')} given, the addon's default otherwise`;
}

function predict(plan: Plan): TrainRow[] {
  const binding = loadBinding();
  const n = plan.gradBytes / 4;
  const sims = new Map<string, SimulationResult>();
  const rows: TrainRow[] = [];
  for (const np of plan.nps) {
    const hosts = plan.hostsFor(np);
    for (const f of plan.formats) {
      const bytes = wireBytes(f, n, plan.tensors);
      for (const algo of plan.algos) {
        if (f.collective === 'allgather' && !plan.allgatherAlgos.has(algo.split(':')[0])) continue;
        // An all-reduce moves whole float32 elements: fp16 of an odd count pads to one more.
        const simBytes = f.collective === 'allreduce' ? Math.ceil(bytes / 4) * 4 : bytes;
        const key = `${algo}|${f.collective}|${simBytes}|${np}|${hosts}`;
        let s = sims.get(key);
        if (!s) {
          try {
            s = binding.simulate({ algorithm: algo, np, bytes: simBytes, collective: f.collective, hosts, ...plan.model, ...plan.intra });
          } catch (err) {
            throw new TrainUsage((err as Error).message);
          }
          sims.set(key, s);
        }
        // One worker exchanges nothing: no communication, no compression.
        const c = np > 1 ? plan.codec(f) : noCodec();
        const parts = {
          computeMs: plan.compute.computeMs,
          encodeMs: c.encodeMs,
          commMs: np > 1 ? s.predictedS * 1e3 : 0,
          decodeMs: c.decodeMs * (c.decodePerRank ? np : 1),
          overlap: plan.overlap,
        };
        const t = stepTime(parts);
        const b = plan.compute.batchPerWorker;
        rows.push({
          np,
          algo: s.algorithm,
          compression: f.name,
          collective: f.collective,
          ...(hosts !== undefined ? { hosts } : {}),
          bytesPerRank: bytes,
          bytesSentPerRank: np > 1 ? s.maxBytesSentPerRank : 0,
          ...parts,
          ...t,
          ...(b !== undefined ? { samplesPerS: (np * b * 1e3) / t.stepMs } : {}),
        });
      }
    }
  }
  return rows;
}

const r4 = (x: number) => +x.toPrecision(4);

/** One `--json` line, snake_case as every JSON line dtrain prints. */
function rowJson(r: TrainRow, plan: Plan): Record<string, unknown> {
  return {
    np: r.np,
    algo: r.algo,
    compression: r.compression,
    collective: r.collective,
    ...(r.hosts !== undefined ? { hosts: r.hosts } : {}),
    grad_bytes: plan.gradBytes,
    bytes_per_rank: r.bytesPerRank,
    bytes_sent_per_rank: r.bytesSentPerRank,
    compute_ms: r.computeMs,
    encode_ms: r.encodeMs,
    comm_ms: r.commMs,
    hidden_ms: r.hiddenMs,
    decode_ms: r.decodeMs,
    step_ms: r.stepMs,
    efficiency: r.efficiency,
    ...(r.samplesPerS !== undefined ? { samples_per_s: r4(r.samplesPerS) } : {}),
    ...(plan.compute.batchPerWorker !== undefined ? { batch_per_worker: plan.compute.batchPerWorker } : {}),
    overlap: plan.overlap,
    codec: plan.codecKind,
    model: {
      ...plan.model,
      ...(plan.intra.alphaIntra !== undefined ? { alpha_intra: plan.intra.alphaIntra } : {}),
      ...(plan.intra.betaIntra !== undefined ? { beta_intra: plan.intra.betaIntra } : {}),
    },
  };
}

function bytesText(b: number): string {
  if (b < 1e3) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(2)} kB`;
  if (b < 1e9) return `${(b / 1e6).toFixed(2)} MB`;
  return `${(b / 1e9).toFixed(2)} GB`;
}

function msText(ms: number): string {
  return ms >= 100 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(3) : ms.toFixed(4);
}

/** What the header and the plot's subtitle say of the model. */
function modelText(plan: Plan): string {
  const m = plan.model;
  const intra =
    plan.intra.alphaIntra !== undefined || plan.intra.betaIntra !== undefined
      ? `; within a host alpha ${plan.intra.alphaIntra ?? m.alpha} s, beta ${plan.intra.betaIntra ?? m.beta} s/B`
      : '';
  return (
    `network ${plan.modelName}: alpha ${+(m.alpha * 1e6).toPrecision(4)} us per message, ` +
    `beta ${m.beta} s/B (${+(1 / m.beta / 1e9).toPrecision(4)} GB/s), gamma ${m.gamma} s/B${intra}`
  );
}

function table(rows: TrainRow[], plan: Plan): string {
  const out: string[] = [];
  const c = plan.compute;
  out.push(`compute ${msText(c.computeMs)} ms per step per worker (${c.describe})`);
  out.push(`gradients ${plan.gradBytes} bytes (${plan.gradBytes / 4} float32 in ${plan.tensors} tensors), one exchange per step`);
  out.push(modelText(plan));
  out.push(
    plan.overlap === 0
      ? 'no overlap: step = compute + comm (+ codec)'
      : `overlap ${plan.overlap}: up to ${plan.overlap} of comm hides behind compute`,
  );
  out.push(plan.codecNote);
  out.push('efficiency = compute / step: one worker\'s step over P workers\' at the same batch per worker');
  const head = ['P', 'algorithm', 'compression', 'by', 'hosts', 'message/rank', 'sent/rank', 'comm ms', 'codec ms', 'step ms', 'efficiency'];
  const body = rows.map((r) => [
    String(r.np),
    r.algo,
    r.compression,
    r.collective === 'allreduce' ? 'all-reduce' : 'all-gather',
    r.hosts === undefined ? '-' : String(r.hosts),
    bytesText(r.bytesPerRank),
    bytesText(r.bytesSentPerRank),
    msText(r.commMs - r.hiddenMs) + (r.hiddenMs > 0 ? ` (${msText(r.hiddenMs)} hidden)` : ''),
    msText(r.encodeMs + r.decodeMs),
    msText(r.stepMs),
    `${(r.efficiency * 100).toFixed(1)}%`,
  ]);
  const keep = head.map((_, i) => i !== 4 || rows.some((r) => r.hosts !== undefined));
  const cols = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const left = new Set([1, 2, 3]);
  const line = (cells: string[]) =>
    cells
      .map((s, i) => (keep[i] ? (left.has(i) ? s.padEnd(cols[i]) : s.padStart(cols[i])) : ''))
      .filter((s, i) => keep[i])
      .join('  ')
      .trimEnd();
  out.push('', line(head), ...body.map(line));
  return `${out.join('\n')}\n`;
}

const PALETTE = ['#000000', '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2'];
const DASHES = ['', '7 4', '2 3', '9 3 2 3', '1 5', '12 6'];

function plot(rows: TrainRow[], plan: Plan): string {
  const names = [...new Set(rows.map((r) => r.compression))];
  const algos = [...new Set(rows.map((r) => r.algo))];
  const series = names.flatMap((comp, ci) =>
    algos
      .map((algo) => ({ algo, points: rows.filter((r) => r.compression === comp && r.algo === algo).map((r) => [r.np, r.efficiency] as [number, number]) }))
      .filter((s) => s.points.length)
      .map((s) => ({
        name: `${comp}, ${s.algo}`,
        points: s.points,
        color: PALETTE[ci % PALETTE.length],
        dash: DASHES[algos.indexOf(s.algo) % DASHES.length] || undefined,
      })),
  );
  const m = plan.model;
  return lineChartSvg({
    title: 'Predicted weak-scaling efficiency of data-parallel SGD (dtrain simulate --train)',
    subtitle:
      `compute ${msText(plan.compute.computeMs)} ms/step, ${bytesText(plan.gradBytes)} of gradients, ${plan.modelName} ` +
      `(alpha ${+(m.alpha * 1e6).toPrecision(3)} us, ${+(1 / m.beta / 1e9).toPrecision(3)} GB/s), ` +
      `${plan.overlap ? `overlap ${plan.overlap}` : 'no overlap'}, codec cost ${plan.codecKind}; colour: compression, dash: algorithm`,
    xLabel: 'ranks P (log scale)',
    yLabel: 'efficiency = compute / step',
    series,
    hlines: [{ y: 0.9, label: '90%' }],
    yRange: [0, 1],
    xLog: true,
  });
}
