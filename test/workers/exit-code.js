'use strict';
// Usage: exit-code.js RANK:CODE:DELAY_MS ...  Each listed rank exits with CODE after DELAY_MS;
// unlisted ranks exit 0 at once.
const rank = process.env.DTRAIN_RANK;
for (const spec of process.argv.slice(2)) {
  const [r, code, delay] = spec.split(':');
  if (r === rank) {
    setTimeout(() => {
      console.error(`rank ${rank} failing with ${code}`);
      process.exit(Number(code));
    }, Number(delay));
  }
}
