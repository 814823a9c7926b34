'use strict';
// Writes many long lines in odd-sized chunks that straddle line ends, so that unbuffered
// forwarding would interleave workers mid-line.
const rank = process.env.DTRAIN_RANK;
const line = `${rank}`.repeat(3000) + '\n';
const text = line.repeat(40);
let offset = 0;
let size = 1;
function next() {
  if (offset >= text.length) return;
  const piece = text.slice(offset, offset + size);
  offset += size;
  size = (size * 7 + 13) % 5000 + 1;
  process.stdout.write(piece, () => setImmediate(next));
}
next();
