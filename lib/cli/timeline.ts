import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { convertRawPart, isRawPart, mergeTimeline } from '../comm/timeline';
import { CommandError } from './values';

/**
 * Adds `dtrain timeline FILE`: merges the ranks' timeline parts (FILE.rank<r>) into FILE, as
 * the launcher does at the end of a job; for parts a launcher did not merge (it was killed, or
 * the timeline was asked for in code with init({ timeline })).
 */
export function addTimelineCommand(program: Command): void {
  program
    .command('timeline')
    .description("merge the ranks' timeline parts FILE.rank<r> into FILE (Chrome-trace JSON for ui.perfetto.dev)")
    .argument('<file>', 'the timeline file the job was given')
    .action((file: string) => {
      const dir = path.dirname(path.resolve(file));
      const base = path.basename(file);
      const ranks = fs
        .readdirSync(dir)
        .map((f) => new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.rank(\\d+)(\\.1)?$`).exec(f))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]));
      if (ranks.length === 0) {
        // A job of one writes FILE itself, raw until it exits; a killed one leaves it so.
        if (isRawPart(file)) {
          convertRawPart(path.resolve(file));
          process.stdout.write(`converted ${file}\n`);
          return;
        }
        throw new CommandError(`dtrain timeline: no parts ${file}.rank<r> found in ${dir}`);
      }
      const merged = mergeTimeline(path.resolve(file), Math.max(...ranks) + 1);
      process.stdout.write(`merged ${merged.length} rank(s) into ${file}\n`);
    });
}
