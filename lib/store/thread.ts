import { Worker } from 'node:worker_threads';

/**
 * A {@link StoreServer} on a thread of its own, for a store hosted inside a worker (rank 0
 * under mpirun): the worker's JS thread may block in a synchronous collective, and a store on
 * that thread's event loop would then stop answering the ranks still bootstrapping, which wait
 * for it while rank 0 waits for them. The thread does not keep the process alive.
 *
 * @returns the address workers connect to (`host:port`)
 */
export function startStoreThread(options: { host: string; token: string }): Promise<string> {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { StoreServer } = require(workerData.server);
     StoreServer.start({ host: workerData.host, token: workerData.token }).then(
       (store) => parentPort.postMessage({ address: store.address }),
       (err) => parentPort.postMessage({ error: String(err && err.message ? err.message : err) }),
     );`,
    { eval: true, workerData: { server: require.resolve('./server'), ...options } },
  );
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { address?: string; error?: string }) => {
      if (m.address === undefined) {
        void worker.terminate();
        reject(new Error(m.error ?? 'the store thread gave no address'));
        return;
      }
      worker.unref();
      resolve(m.address);
    });
  });
}
