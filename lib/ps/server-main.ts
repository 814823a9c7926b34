/**
 * What `dtrain run --servers K` runs on each server rank: joins the job, serves until every
 * worker is done or gone, and leaves. Exit code 0 once served, 1 on a failure (named).
 */
import { Communicator } from '../comm/communicator';
import { configFromEnv } from '../comm/config';
import { closePsJob, serversFromEnv, setupPsJob } from './job';
import { ParameterServer } from './server';

async function main(): Promise<void> {
  const { config, defaultAlgorithm } = configFromEnv({}, 0);
  const full = await Communicator.create(config, defaultAlgorithm);
  const job = await setupPsJob(full, serversFromEnv());
  const server = new ParameterServer(job);
  const stats = await server.run();
  if ((config.debug ?? 0) >= 1) process.stderr.write(`dtrain ps: server ${stats.server} done: ${JSON.stringify(stats)}\n`);
  await closePsJob(job);
}

main().catch((err: Error) => {
  process.stderr.write(`dtrain ps: parameter server failed: ${err.message}\n`);
  process.exit(1);
});
