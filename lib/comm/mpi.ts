/**
 * Joining a job started by mpirun: MPI gives the rank, size and local rank; rank 0 hosts the
 * rendezvous store that `dtrain run` would have hosted, and MPI_Bcast shares its address and
 * secret (as NCCL shares its unique id), so every dtrain transport and algorithm runs under
 * mpirun unchanged. MPI is reached through the MPI plugin (native/mpi), built against the
 * system's MPI at install and loaded only here, so the addon loads where there is no MPI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { DtrainError } from '../common/errors';
import { loadBinding } from '../native';
import { startStoreThread } from '../store/thread';
import { mpiLauncherFromEnv, tcpAddrFromEnv } from './config';

/** What init() needs from the MPI bootstrap: the launcher's variables, as MPI saw them. */
export interface MpiJob {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  /** The MPI library, e.g. "Open MPI v4.1.4". */
  version: string;
  store: string;
  token: string;
  jobId: string;
}

/** Where the plugin is looked for: the install's build (scripts/build-mpi.js puts it there). */
export function mpiPluginCandidates(): string[] {
  const root = join(__dirname, '..', '..');
  return [join(root, 'build', 'mpi', 'libdtrain_mpi.so'), join(root, 'build', 'Release', 'libdtrain_mpi.so')];
}

let job: Promise<MpiJob> | undefined;

/** The MPI bootstrap, once per process (a re-init after shutdown() reuses its store). */
export function mpiJob(): Promise<MpiJob> {
  job ??= bootstrap();
  return job;
}

/** The address rank 0's store listens on: loopback when the job is on one host. */
function storeHost(localSize: number, size: number): string {
  if (localSize === size) return '127.0.0.1';
  const chosen = tcpAddrFromEnv();
  if (chosen !== '127.0.0.1') return chosen;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new DtrainError('dtrain: this mpirun job spans hosts, but this host has no non-loopback IPv4 address for the store; set DTRAIN_TCP_ADDR', 'ERR_DTRAIN_BOOTSTRAP');
}

const MESSAGE_BYTES = 1024;

async function bootstrap(): Promise<MpiJob> {
  const launcher = mpiLauncherFromEnv() ?? 'an MPI launcher';
  const plugin = mpiPluginCandidates().find((p) => existsSync(p));
  if (!plugin) {
    throw new DtrainError(
      `dtrain: this process was started by mpirun (${launcher}), but dtrain's MPI plugin was not built ` +
        `(looked for ${mpiPluginCandidates().join(', ')}): install MPI with its compiler wrappers ` +
        '(apt-get install libopenmpi-dev), then run `npm rebuild dtrain`; or start the job with `dtrain run -np N script.js`',
      'ERR_DTRAIN_BOOTSTRAP',
    );
  }
  const mpi = loadBinding().mpi;
  mpi.load(plugin);
  const me = mpi.init();
  // MPI wants every process to finalize; exiting without it makes mpirun report a failure.
  process.on('exit', () => mpi.finalize());
  const message = new Uint8Array(MESSAGE_BYTES);
  if (me.rank === 0) {
    try {
      const token = randomBytes(32).toString('hex');
      // On a thread of its own: this rank's JS thread may block in a synchronous collective
      // while other ranks still need the store (their bootstrap, abort reports, stall reports).
      const address = await startStoreThread({ host: storeHost(me.localSize, me.size), token });
      const text = JSON.stringify({ store: address, token, jobId: `mpi${process.pid}-${randomBytes(4).toString('hex')}` });
      message.set(Buffer.from(text, 'utf8'));
    } catch (err) {
      // The others still wait in the broadcast: tell them why instead of leaving them there.
      message.set(Buffer.from(JSON.stringify({ error: (err as Error).message }), 'utf8'));
    }
  }
  mpi.bcastBytes(message, 0);
  const end = message.indexOf(0);
  const got = JSON.parse(Buffer.from(message.subarray(0, end < 0 ? MESSAGE_BYTES : end)).toString('utf8')) as {
    store?: string;
    token?: string;
    jobId?: string;
    error?: string;
  };
  if (got.error !== undefined || !got.store || !got.token || !got.jobId) {
    throw new DtrainError(`dtrain: rank 0 could not start the rendezvous store under mpirun: ${got.error ?? 'no address came'}`, 'ERR_DTRAIN_BOOTSTRAP');
  }
  return { ...me, store: got.store, token: got.token, jobId: got.jobId };
}

/** The launcher variables init() reads, filled from the MPI bootstrap. */
export function envOf(j: MpiJob, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    DTRAIN_RANK: String(j.rank),
    DTRAIN_SIZE: String(j.size),
    DTRAIN_LOCAL_RANK: String(j.localRank),
    DTRAIN_LOCAL_SIZE: String(j.localSize),
    DTRAIN_STORE: j.store,
    DTRAIN_TOKEN: j.token,
    DTRAIN_JOB_ID: j.jobId,
  };
}
