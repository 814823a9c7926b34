import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { CommandError } from './values';

/**
 * The peer benchmarks dtrain is measured against live in the package, in bench/peers/ (their
 * arguments and JSON lines: bench/peers/README.md). This module finds them and what they need:
 * a python3 that imports torch, mpicc and mpirun (the MPI program is compiled on first use into
 * a cache folder), tfjs.
 */
export const PEERS_DIR = join(__dirname, '..', '..', 'bench', 'peers');

/** The path of a peer in bench/peers/. */
export function peerPath(file: string): string {
  return join(PEERS_DIR, file);
}

/**
 * The first python3 that can import `module`: the given one, else /usr/bin/python3 (Debian's,
 * with the system BLAS), else $PATH's python3.
 */
export function pythonWith(module: string, explicit?: string): string | undefined {
  for (const py of explicit ? [explicit] : ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

/**
 * A python3 with torch for a peer that cannot run without it.
 *
 * @throws CommandError saying what to install
 */
export function requireTorchPython(flag: string, explicit?: string): string {
  const py = pythonWith('torch', explicit);
  if (py) return py;
  const tried = explicit ?? '/usr/bin/python3 and python3';
  throw new CommandError(`${flag} needs a python3 that imports torch (tried ${tried}): apt-get install python3-torch, or say --python PATH`);
}

/** The full path of a program on $PATH, or undefined. */
export function onPath(program: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, program);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Where dtrain keeps what it builds for itself: $XDG_CACHE_HOME/dtrain, else ~/.cache/dtrain,
 * else (no writable home) a per-user folder in the system's temporary directory.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  for (const dir of [join(base, 'dtrain'), join(tmpdir(), `dtrain-cache-${userInfo().uid}`)]) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {
      // try the next
    }
  }
  throw new CommandError(`no writable cache folder: neither ${join(base, 'dtrain')} nor ${tmpdir()} can be written`);
}

/**
 * The MPI_Allreduce peer (bench/peers/mpi_allreduce.c), compiled with mpicc into the cache
 * folder the first time and whenever the source or the compiler changes (the binary's name
 * holds a hash of both). Start it with `mpirun` by name: OpenMPI takes a path it was started
 * by as its install prefix.
 *
 * @throws CommandError when mpicc or mpirun is missing or the compile fails
 */
export function mpiAllreducePeer(env: NodeJS.ProcessEnv = process.env): string {
  const mpicc = onPath('mpicc', env);
  const mpirun = onPath('mpirun', env);
  if (!mpicc || !mpirun) {
    const missing = [mpicc ? '' : 'mpicc', mpirun ? '' : 'mpirun'].filter(Boolean).join(' and ');
    throw new CommandError(`--mpi needs ${missing} on PATH to build and start bench/peers/mpi_allreduce.c (OpenMPI: apt-get install openmpi-bin libopenmpi-dev), or say --mpi BINARY with mpirun`);
  }
  return compiledPeer(mpicc, 'mpi_allreduce.c', 'mpi_allreduce', env);
}

/**
 * A C peer compiled with `cc` into the cache folder, named with a hash of the source and the
 * compiler's version (a change of either rebuilds it); built beside the target and renamed, so
 * a concurrent run never sees half a binary.
 */
function compiledPeer(cc: string, file: string, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const source = peerPath(file);
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const hash = createHash('sha256').update(readFileSync(source)).update(version).digest('hex').slice(0, 12);
  const binary = join(cacheDir(env), `${name}-${hash}`);
  if (existsSync(binary)) return binary;
  const partial = `${binary}.${process.pid}.tmp`;
  const out = spawnSync(cc, ['-O2', '-o', partial, source], { encoding: 'utf8' });
  if (out.status !== 0) {
    rmSync(partial, { force: true });
    const why = (out.stderr || out.error?.message || '').trim().split('\n').slice(-3).join(' | ');
    throw new CommandError(`${basename(cc)} could not build ${source}: ${why}`);
  }
  renameSync(partial, binary);
  return binary;
}

/**
 * The memory-bandwidth probe (bench/peers/membw.c), compiled with cc into the cache folder the
 * first time and whenever the source or the compiler changes.
 *
 * @throws CommandError when cc is missing or the compile fails
 */
export function membwPeer(env: NodeJS.ProcessEnv = process.env): string {
  const cc = onPath('cc', env) ?? onPath('gcc', env);
  if (!cc) throw new CommandError('--bound needs a C compiler (cc or gcc) on PATH to build bench/peers/membw.c');
  return compiledPeer(cc, 'membw.c', 'membw', env);
}

/**
 * Where `require('@tensorflow/tfjs')` resolves for the tfjs peer: from the current folder (the
 * user's app), else from the package (an app that installed both), or undefined.
 */
export function resolveTfjs(cwd: string = process.cwd()): string | undefined {
  try {
    return require.resolve('@tensorflow/tfjs', { paths: [cwd, PEERS_DIR] });
  } catch {
    return undefined;
  }
}
