'use strict';
// Prints "ready <pid>" and then sleeps until killed. With --ignore-sigterm it survives SIGTERM.
// With --kill-self RANK, that rank SIGKILLs itself once started.
const rank = process.env.DTRAIN_RANK;
const args = process.argv.slice(2);
if (args.includes('--ignore-sigterm')) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
console.log(`ready ${process.pid}`);
const killSelf = args.indexOf('--kill-self');
if (killSelf >= 0 && args[killSelf + 1] === rank) {
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
}
setInterval(() => {}, 1 << 30);
