import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import {
  describeExit,
  isFailure,
  shellExitCode,
  signalNumber,
  type ExitStatus,
} from './exit-status';
import { LinePrefixer } from './line-prefixer';

/** How to start one worker. */
export interface WorkerSpec {
  rank: number;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Also hand the worker the launcher's stdout as fd 3 (a terminal, for a progress bar). */
  terminal?: boolean;
  /** Start it bound to these CPUs, through `taskset` (the path): [cpus, taskset]. */
  bind?: [number[], string];
  /**
   * The child is a launcher command (ssh) running the worker on another host: its exit code
   * stands for the worker's death by a signal (ssh exits 255 when the connection or the remote
   * process is lost, a shell 128 + n for signal n).
   */
  remote?: boolean;
}

/** A remote worker's launcher-command exit as the worker's own: see {@link WorkerSpec.remote}. */
function remoteStatus(status: ExitStatus): ExitStatus {
  if (status.signal !== null || status.code === null) return status;
  if (status.code === 255) return { code: null, signal: 'SIGHUP' };
  if (status.code > 128) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === (status.code as number) - 128)?.[0];
    if (name) return { code: null, signal: name as NodeJS.Signals };
  }
  return status;
}

/** Timing and output routing for a {@link WorkerGroup}. */
export interface WorkerGroupOptions {
  /** After the first worker fails, how long the others get to exit on their own. */
  graceMs: number;
  /** After SIGTERMing the survivors of a failure, how long until SIGKILL. Default 3 s. */
  failureKillDelayMs?: number;
  /** After forwarding a SIGINT/SIGTERM to the workers, how long until SIGKILL. Default 5 s. */
  interruptKillDelayMs?: number;
  /** Receives workers' stdout, as whole `[rank] `-prefixed lines. */
  stdout: (data: Buffer) => void;
  /** Receives workers' stderr, as whole `[rank] `-prefixed lines. */
  stderr: (data: Buffer) => void;
  /** Receives the launcher's own one-line reports (no trailing newline). */
  log: (line: string) => void;
  /**
   * Ranks whose failure the job survives (the workers of a parameter-server job): reported, and
   * the others keep running. Exit code: 0 if such ranks were only killed by signals (a lost
   * machine) while the rest finished; the first one's code if one exited non-zero on its own (a
   * script error is still an error); the first failure's, at once, when none is left running.
   */
  survivable?: (rank: number) => boolean;
  /**
   * Called after a survivable rank failed while others run (the elastic launcher starts a
   * replacement with {@link WorkerGroup.add}).
   */
  onSurvivedFailure?: (rank: number, status: ExitStatus, running: number) => void;
}

/**
 * After every worker has exited, how long to wait for their output pipes to close. A worker's
 * own child that inherited the pipes can hold them open indefinitely; the job must still end.
 */
const DRAIN_MS = 2000;

interface Worker {
  rank: number;
  child: ChildProcess;
  status: ExitStatus | null;
  /** Resolves when the process has exited and its output pipes have closed. */
  closed: Promise<void>;
  /** Emits any final partial output lines. */
  flush: () => void;
}

/**
 * Runs a set of worker processes as one job: prefixes their output, forwards SIGINT/SIGTERM to
 * them, and tears the job down when one fails.
 *
 * Failure policy: the first worker to exit non-zero or by a signal is reported; the rest get
 * `graceMs` to exit by themselves (normally they notice the lost peer and report it), then
 * SIGTERM, then SIGKILL.
 */
export class WorkerGroup {
  private workers: Worker[] = [];
  private firstFailure: ExitStatus | null = null;
  /** The first survivable rank that exited non-zero by itself (not killed). */
  private firstSurvivedError: ExitStatus | null = null;
  /** The first survivable failure of any kind. */
  private firstSurvived: ExitStatus | null = null;
  private interruptedBy: NodeJS.Signals | null = null;
  /** Set once the launcher starts ending workers itself; their deaths are then not reported. */
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private allExited: () => void = () => {};

  constructor(private readonly options: WorkerGroupOptions) {}

  /**
   * Starts every worker and resolves when all have exited.
   *
   * @returns the launcher's exit code: 0 if all workers exited 0; 128 + signal number if the
   *   launcher was interrupted; else the first failing worker's code (128 + signal number if a
   *   signal killed it)
   */
  async run(specs: readonly WorkerSpec[]): Promise<number> {
    const exited = new Promise<void>((resolve) => (this.allExited = resolve));
    const onSignal = (signal: NodeJS.Signals): void => this.interrupt(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      this.workers = specs.map((spec) => this.spawn(spec));
      if (this.workers.length === 0) this.allExited();
      await exited;
      await this.drainOutput();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
    }
    if (this.interruptedBy) return 128 + signalNumber(this.interruptedBy);
    if (this.firstFailure) return shellExitCode(this.firstFailure);
    return this.firstSurvivedError ? shellExitCode(this.firstSurvivedError) : 0;
  }

  /** Workers still running. */
  get running(): number {
    return this.workers.filter((w) => w.status === null).length;
  }

  /** The ranks (ids) of the workers still running. */
  liveRanks(): number[] {
    return this.workers.filter((w) => w.status === null).map((w) => w.rank);
  }

  /** Whether some worker has already finished with exit code 0 (the job is ending). */
  get anyFinished(): boolean {
    return this.workers.some((w) => w.status !== null && !isFailure(w.status));
  }

  /** Starts one more worker while the group runs (an elastic replacement); false once it is ending. */
  add(spec: WorkerSpec): boolean {
    if (this.stopping || this.firstFailure !== null || this.workers.every((w) => w.status !== null)) return false;
    this.workers.push(this.spawn(spec));
    return true;
  }

  private spawn(spec: WorkerSpec): Worker {
    // taskset execs the worker in place: same pid, so signals and exit status are the worker's.
    const [command, args] = spec.bind
      ? [spec.bind[1], ['-c', spec.bind[0].join(','), spec.command, ...spec.args]]
      : [spec.command, spec.args];
    const child = spawn(command, args, {
      env: spec.env,
      // Workers must not compete for the launcher's stdin.
      stdio: spec.terminal ? ['ignore', 'pipe', 'pipe', 1] : ['ignore', 'pipe', 'pipe'],
    });
    const prefix = `[${spec.rank}] `;
    const out = new LinePrefixer(prefix, this.options.stdout);
    const err = new LinePrefixer(prefix, this.options.stderr);
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdout!.on('end', () => out.end());
    child.stderr!.on('end', () => err.end());

    const worker: Worker = {
      rank: spec.rank,
      child,
      status: null,
      closed: new Promise((resolve) => child.on('close', () => resolve())),
      flush: () => {
        out.end();
        err.end();
      },
    };
    child.on('exit', (code, signal) => this.onExit(worker, spec.remote ? remoteStatus({ code, signal }) : { code, signal }));
    child.on('error', (error) => {
      // Without a pid the process never started and no 'exit' will follow; otherwise the
      // error came from kill() on an already-dead process and changes nothing.
      if (child.pid !== undefined || worker.status !== null) return;
      this.options.log(`dtrain: rank ${spec.rank} could not be started: ${error.message}`);
      this.onExit(worker, { code: 127, signal: null }, false);
    });
    return worker;
  }

  private onExit(worker: Worker, status: ExitStatus, report = true): void {
    if (worker.status !== null) return;
    worker.status = status;
    if (isFailure(status) && !this.stopping && this.firstFailure === null && this.options.survivable?.(worker.rank)) {
      this.firstSurvived ??= status;
      if (status.signal === null) this.firstSurvivedError ??= status;
      const survivable = this.workers.filter((w) => this.options.survivable?.(w.rank));
      const running = survivable.filter((w) => w.status === null).length;
      const finished = survivable.filter((w) => w.status !== null && !isFailure(w.status)).length;
      if (report) {
        const what = running > 0 ? 'the job continues without it' : finished > 0 ? 'the others have finished' : 'no worker is left';
        this.options.log(`dtrain: ${describeExit(worker.rank, status)}; ${what}`);
      }
      if (running === 0 && finished === 0) {
        // A script's own error says more than the signal that started the trouble.
        this.firstFailure = this.firstSurvivedError ?? this.firstSurvived;
        this.after(this.options.graceMs, () => this.stopSurvivors());
      } else if (running > 0) {
        this.options.onSurvivedFailure?.(worker.rank, status, running);
      }
    } else if (isFailure(status) && !this.stopping) {
      if (report) this.options.log(`dtrain: ${describeExit(worker.rank, status)}`);
      if (this.firstFailure === null) {
        this.firstFailure = status;
        this.after(this.options.graceMs, () => this.stopSurvivors());
      }
    }
    if (this.workers.every((w) => w.status !== null)) this.allExited();
  }

  /** Grace period over: SIGTERM whoever is left, SIGKILL them if that does not work. */
  private stopSurvivors(): void {
    const live = this.live();
    if (live.length === 0) return;
    this.stopping = true;
    this.options.log(
      `dtrain: stopping ${ranksOf(live)} after the ${this.options.graceMs / 1000} s grace period`,
    );
    this.signal(live, 'SIGTERM');
    this.after(this.options.failureKillDelayMs ?? 3000, () => this.killSurvivors('SIGTERM'));
  }

  /** The launcher got SIGINT/SIGTERM: pass it on; a second one escalates to SIGKILL at once. */
  private interrupt(signal: NodeJS.Signals): void {
    if (this.interruptedBy !== null) return this.killSurvivors(this.interruptedBy);
    this.interruptedBy = signal;
    this.stopping = true;
    const live = this.live();
    if (live.length === 0) return;
    this.options.log(`dtrain: received ${signal}, forwarding it to ${ranksOf(live)}`);
    this.signal(live, signal);
    this.after(this.options.interruptKillDelayMs ?? 5000, () => this.killSurvivors(signal));
  }

  private killSurvivors(after: NodeJS.Signals): void {
    const live = this.live();
    if (live.length === 0) return;
    this.options.log(`dtrain: ${ranksOf(live)} still running after ${after}, sending SIGKILL`);
    this.signal(live, 'SIGKILL');
  }

  private live(): Worker[] {
    return this.workers.filter((w) => w.status === null && w.child.pid !== undefined);
  }

  private signal(workers: readonly Worker[], signal: NodeJS.Signals): void {
    for (const w of workers) {
      try {
        w.child.kill(signal);
      } catch {
        // Already gone between the check and the kill; its 'exit' event will say so.
      }
    }
  }

  private async drainOutput(): Promise<void> {
    await Promise.race([
      Promise.all(this.workers.map((w) => w.closed)),
      new Promise<void>((resolve) => this.after(DRAIN_MS, resolve)),
    ]);
    for (const w of this.workers) {
      w.flush();
      w.child.stdout?.destroy();
      w.child.stderr?.destroy();
    }
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

/** `rank 2` or `ranks 0, 1, 3`. */
function ranksOf(workers: readonly Worker[]): string {
  const ranks = workers.map((w) => w.rank).join(', ');
  return workers.length === 1 ? `rank ${ranks}` : `ranks ${ranks}`;
}
