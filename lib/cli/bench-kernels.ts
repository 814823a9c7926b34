import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadBinding } from '../native';
import type { Isa } from '../kernels/binding';
import { parseBytes, UsageError } from './values';

interface KernelBenchOptions {
  bytes: number[];
  json?: boolean;
  kernels?: string[];
  isa?: string[];
  minTime: number;
  torch: boolean;
  python?: string;
}

/** A line of `dtrain bench kernels --json` for one of dtrain's kernels. */
export interface KernelLine {
  kernel: string;
  backend: 'cpu';
  isa: Isa;
  bytes: number;
  GBs: number;
  memcpy_GBs: number;
  ratio: number;
}

/** A line for PyTorch's equivalent operation, with the same byte count as dtrain's kernel. */
export interface PeerLine {
  kernel: string;
  peer: 'torch';
  bytes: number;
  GBs: number;
  version: string;
  /** dtrain's best level's GB/s over torch's: how many times faster dtrain is. */
  speedup: number;
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function byteList(value: string): number[] {
  return list(value).map((s) => {
    const n = parseBytes(s);
    if (n < 64 || n % 64 !== 0) throw new InvalidArgumentError(`${s} is not a positive multiple of 64 bytes`);
    return n;
  });
}

/** The first Python that can import torch: $PATH's python3, then the system one. */
function findTorchPython(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : ['python3', '/usr/bin/python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

const round = (x: number, digits = 2): number => +x.toFixed(digits);

/**
 * Adds `dtrain bench kernels` to the `bench` command: every CPU kernel at every level this CPU
 * supports, against memcpy on the same buffer size measured in the same run, and PyTorch's
 * equivalent CPU operation (one thread) when a python3 with torch is found. memcpy is measured
 * again before each kernel, on the same size; a read probe and a write probe, once per size,
 * give the ceilings a kernel's ratio is bounded by. Bytes counted are
 * every byte read and written (all passes). Each JSON line is printed as soon as measured.
 */
export function addBenchKernelsCommand(bench: Command): void {
  bench
    .command('kernels')
    .description('throughput of the CPU kernels vs memcpy (and PyTorch) on one core')
    .option('--bytes <B[,B...]>', 'input sizes in bytes (e.g. 1MiB,64MiB)', byteList, [64 << 20, 1 << 20])
    .option('--json', 'one JSON line per measurement')
    .option('--kernels <names>', 'only these kernels (comma-separated)', list)
    .option('--isa <levels>', 'only these levels (scalar, avx2, avx512)', list)
    .option('--min-time <seconds>', 'time each measurement for at least this long', Number, 0.3)
    .option('--no-torch', 'skip the PyTorch peer')
    .option('--python <path>', 'python with torch for the peer (default: python3, /usr/bin/python3)')
    .action((options: KernelBenchOptions) => {
      const k = loadBinding().kernels;
      const info = k.info();
      const known = k.benchNames();
      const names = options.kernels ?? known;
      for (const n of names) if (!known.includes(n)) throw new UsageError(`--kernels: no kernel named ${n}`);
      const levels = (options.isa ?? info.supported).filter((l): l is Isa => {
        if (!info.supported.includes(l as Isa)) throw new UsageError(`--isa: this CPU does not support ${l}`);
        return true;
      });
      const py = options.torch ? findTorchPython(options.python) : undefined;
      if (options.torch && !py && !options.json) console.log('PyTorch not found: no peer column');
      const print = (line: object, text: string): void => {
        console.log(options.json ? JSON.stringify(line) : text);
      };
      for (const bytes of options.bytes) {
        const best = new Map<string, { GBs: number; bytesMoved: number }>();
        // The machine's ceilings at this size, as kernel lines named probe_read (a read-only
        // pass: the best level's maxAbs) and probe_write (memset). A kernel that reads R and
        // writes W bytes cannot beat max(R / read, W / write) seconds.
        const probeMemcpy = k.bench('memcpy', null, bytes, options.minTime).GBs;
        for (const kernel of ['probe_read', 'probe_write']) {
          const r = k.bench(kernel, null, bytes, options.minTime);
          const line: KernelLine = {
            kernel,
            backend: 'cpu',
            isa: info.best,
            bytes,
            GBs: round(r.GBs),
            memcpy_GBs: round(probeMemcpy),
            ratio: round(r.GBs / probeMemcpy, 3),
          };
          print(line, `${kernel.padEnd(18)} ${line.isa.padEnd(7)} ${String(bytes).padStart(9)} B  ${line.GBs.toFixed(2).padStart(7)} GB/s  memcpy ${line.memcpy_GBs.toFixed(2)}  ratio ${line.ratio.toFixed(3)}`);
        }
        for (const kernel of names) {
          // memcpy right before each kernel: on a shared machine bandwidth drifts during a run,
          // and the ratio should compare like with like.
          const memcpy = k.bench('memcpy', null, bytes, options.minTime).GBs;
          for (const isa of levels) {
            const r = k.bench(kernel, isa, bytes, options.minTime);
            const line: KernelLine = {
              kernel,
              backend: 'cpu',
              isa,
              bytes,
              GBs: round(r.GBs),
              memcpy_GBs: round(memcpy),
              ratio: round(r.GBs / memcpy, 3),
            };
            const prev = best.get(kernel);
            if (!prev || r.GBs > prev.GBs) best.set(kernel, { GBs: r.GBs, bytesMoved: r.bytesMoved });
            print(line, `${kernel.padEnd(18)} ${isa.padEnd(7)} ${String(bytes).padStart(9)} B  ${line.GBs.toFixed(2).padStart(7)} GB/s  memcpy ${line.memcpy_GBs.toFixed(2)}  ratio ${line.ratio.toFixed(3)}`);
          }
        }
        if (!py) continue;
        const r = spawnSync(py, [join(__dirname, '..', '..', 'bench', 'torch_kernels.py'), String(bytes), names.join(','), String(options.minTime)], {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        });
        if (r.status !== 0) {
          console.error(`dtrain: the PyTorch peer failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
          process.exitCode = 1;
          continue;
        }
        for (const text of r.stdout.split('\n')) {
          if (!text.startsWith('{')) continue;
          const p = JSON.parse(text) as { kernel: string; seconds: number; version: string };
          const ours = best.get(p.kernel);
          if (!ours) continue;
          const GBs = ours.bytesMoved / p.seconds / 1e9;
          const line: PeerLine = {
            kernel: p.kernel,
            peer: 'torch',
            bytes,
            GBs: round(GBs),
            version: p.version,
            speedup: round(ours.GBs / GBs),
          };
          print(line, `${p.kernel.padEnd(18)} torch   ${String(bytes).padStart(9)} B  ${line.GBs.toFixed(2).padStart(7)} GB/s  dtrain is ${line.speedup}x`);
        }
      }
    });
}
