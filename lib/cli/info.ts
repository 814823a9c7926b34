import type { Command } from 'commander';
import { packageInfo } from '../common/package-info';

/** What `dtrain info` prints. The native part's fields are merged in at the top level. */
export interface Info {
  name: string;
  version: string;
  napiVersion: string | undefined;
  node: string;
  native: { loaded: true } | { loaded: false; error: string };
  [nativeField: string]: unknown;
}

/**
 * Adds `dtrain info`: prints one JSON object describing the package, the runtime and what the
 * native addon supports. Exits 1 (still printing the JSON) if the addon cannot be loaded.
 */
export function addInfoCommand(program: Command): void {
  program
    .command('info')
    .description('print package, runtime and native-addon capabilities as one JSON object')
    .action(() => {
      const info = collectInfo();
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      if (!info.native.loaded) process.exitCode = 1;
    });
}

/**
 * Gathers the info object. Never throws: a native addon that fails to load or to report is
 * described in `native.error`, because `dtrain info` is what users run to diagnose exactly that.
 *
 * @param loadNative - returns the addon's capability object; replaceable in tests
 */
export function collectInfo(loadNative: () => object = defaultLoadNative): Info {
  const pkg = packageInfo();
  const base = {
    name: pkg.name,
    version: pkg.version,
    napiVersion: process.versions.napi,
    node: process.version,
  };
  try {
    return { ...base, ...loadNative(), native: { loaded: true } };
  } catch (err) {
    return { ...base, native: { loaded: false, error: errorMessage(err) } };
  }
}

function defaultLoadNative(): object {
  // Loaded lazily so that every other subcommand works without a built addon; loading happens
  // inside the call, so its failure is caught by the caller and described.
  const { loadBinding } = require('../native') as typeof import('../native');
  const binding = loadBinding();
  // The kernels' SIMD level (DTRAIN_ISA or the CPU's best) next to the CPU's own.
  const native = binding.nativeInfo() as unknown as { mpi: { usable: boolean; library?: string; reason: string; tried: string[] } };
  // The CUDA runtime and NCCL as loaded at run time: names tried, devices, versions, why not.
  const gpu = binding.cuda.probe();
  // libdtrain_cuda.so: found or not, and why it is not loaded (it is, only where a GPU is).
  const { info: cudaInfo } = require('../cuda') as typeof import('../cuda');
  return {
    ...native,
    cuda: gpu.cuda,
    nccl: gpu.nccl,
    cudaKernels: cudaInfo().kernels,
    mpi: mpiInfo(native.mpi, (p) => binding.mpi.load(p)),
    kernels: binding.kernels.info(),
  };
}

/**
 * Whether mpirun jobs can run: the system's libmpi (the addon's probe) and dtrain's MPI plugin,
 * built against it at install, which must load (its symbols and ABI are checked).
 */
export function mpiInfo(probe: { usable: boolean; library?: string; reason: string; tried: string[] }, load: (path: string) => void): object {
  const { mpiPluginCandidates } = require('../comm/mpi') as typeof import('../comm/mpi');
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  const candidates = mpiPluginCandidates();
  const plugin = candidates.find((p) => existsSync(p));
  const base = { library: probe.library ?? null, tried: probe.tried, plugin: plugin ?? null, pluginTried: candidates };
  if (probe.library === undefined) return { ...base, usable: false, reason: probe.reason };
  if (!plugin) {
    return { ...base, usable: false, reason: `${probe.library} is present, but dtrain's MPI plugin is not built: install the MPI compiler wrappers (apt-get install libopenmpi-dev), then run npm rebuild dtrain` };
  }
  try {
    load(plugin);
  } catch (err) {
    return { ...base, usable: false, reason: errorMessage(err) };
  }
  return { ...base, usable: true, reason: `mpirun jobs join through ${plugin}; algorithm 'mpi' runs ${probe.library}'s collectives` };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
