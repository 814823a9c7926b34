import * as tty from 'tty';
import { SingleBar } from 'cli-progress';
import { ttyFdFromEnv } from '../comm/config';

/**
 * The terminal a progress bar may draw on, if any: this process's stdout when it is a TTY, or
 * the launcher's terminal, which `dtrain run` hands rank 0 as file descriptor DTRAIN_TTY_FD when
 * its own stdout is one (worker stdout is a pipe the launcher prefixes line by line, where a bar
 * redrawing one line cannot live).
 */
export function progressTerminal(): NodeJS.WriteStream | undefined {
  if (process.stdout.isTTY) return process.stdout;
  const fd = ttyFdFromEnv();
  if (fd !== undefined && tty.isatty(fd)) return new tty.WriteStream(fd);
  return undefined;
}

/** What the bar shows besides the step count and ETA. */
export interface ProgressValues {
  loss: number;
  samplesPerS: number;
}

/** One epoch's progress bar (cli-progress): steps, rank 0's mean loss so far, samples/s, ETA. */
export class EpochProgress {
  private readonly bar: SingleBar;

  constructor(stream: NodeJS.WriteStream, epoch: number, epochs: number, steps: number, start: number) {
    this.bar = new SingleBar(
      {
        stream,
        format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} | loss {loss} | {rate} samples/s | ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
        fps: 5,
      },
    );
    this.bar.start(steps, start, { loss: '-', rate: '-' });
  }

  update(step: number, v: ProgressValues): void {
    this.bar.update(step, { loss: v.loss.toFixed(4), rate: Math.round(v.samplesPerS).toLocaleString('en-US') });
  }

  stop(): void {
    this.bar.stop();
  }
}
