'use strict';
// Writes lines in pieces (split mid-line across separate writes), a stderr line, and a final
// line without a newline, to exercise the launcher's line buffering.
const rank = process.env.DTRAIN_RANK;
const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
(async () => {
  for (let i = 0; i < 3; i++) {
    process.stdout.write(`out ${rank} `);
    await pause();
    process.stdout.write(`line ${i}\n`);
  }
  process.stderr.write(`err ${rank}\n`);
  process.stdout.write(`tail ${rank}`);
})();
