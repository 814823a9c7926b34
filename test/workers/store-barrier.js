'use strict';
// Uses the rendezvous store the launcher started: every rank publishes a value, counts itself
// in, and reads every other rank's value. Exits 0 only if all of that works.
const { StoreClient } = require('../../dist/store/client');
(async () => {
  const rank = Number(process.env.DTRAIN_RANK);
  const size = Number(process.env.DTRAIN_SIZE);
  const store = await StoreClient.connect(process.env.DTRAIN_STORE, process.env.DTRAIN_TOKEN);
  await store.set(`addr/${rank}`, `worker-${rank}`);
  await store.add('arrived', 1);
  const seen = [];
  for (let r = 0; r < size; r++) seen.push((await store.get(`addr/${r}`, 10000)).toString());
  console.log(`saw ${seen.join(',')}`);
  await store.close();
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
