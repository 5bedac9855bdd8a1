// Child process: the fallback upstream when nginx is missing, a raw `net` server answering every
// request with a canned HTTP/1.1 response (small for /small, 4 KiB for /4k). Usage: PORT
import { createServer } from 'node:net';
import { BODIES } from './bodies.js';

const port = Number(process.argv[2]);
const canned = (body: string) =>
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
const small = canned(BODIES.small);
const big = canned(BODIES['4k']);

createServer((sock) => {
  let pending = '';
  sock.setNoDelay(true);
  sock.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    let end: number;
    // GET requests only (no bodies): each head ends at CRLFCRLF.
    while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      sock.write(head.startsWith('GET /4k') ? big : small);
    }
  });
  sock.on('error', () => sock.destroy());
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
