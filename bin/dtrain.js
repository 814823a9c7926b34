#!/usr/bin/env node
'use strict';
// Thin shim: the CLI is written in TypeScript and compiled to dist/.
let cli;
try {
  cli = require('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main')) {
    process.stderr.write('dtrain: dist/ is missing; build it with `npm run build:ts`\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv).catch((err) => {
  process.stderr.write(`dtrain: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
