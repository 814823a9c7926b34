import { constants } from 'node:os';

/** How a worker process ended, as reported by the child process 'exit' event. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** True unless the process exited normally with code 0. */
export function isFailure(status: ExitStatus): boolean {
  return status.signal !== null || status.code !== 0;
}

/**
 * The shell convention for a process's status: its exit code, or 128 + the signal number when a
 * signal killed it (137 for SIGKILL).
 */
export function shellExitCode(status: ExitStatus): number {
  if (status.signal !== null) return 128 + signalNumber(status.signal);
  return status.code ?? 1;
}

/** The number of a signal by name; a lookup miss (not expected on Linux) maps to 0. */
export function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

/** `rank R exited with code C` or `rank R was killed by signal SIG`. */
export function describeExit(rank: number, status: ExitStatus): string {
  return status.signal !== null
    ? `rank ${rank} was killed by signal ${status.signal}`
    : `rank ${rank} exited with code ${status.code}`;
}
