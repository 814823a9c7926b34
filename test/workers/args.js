'use strict';
// Prints the arguments this worker received as one JSON line.
console.log(JSON.stringify(process.argv.slice(2)));
