// Child process: node-http-proxy (`http-proxy`) as the naive Node peer, with a keep-alive agent to
// its target. Usage: node http-proxy-server.js LISTEN_PORT TARGET_PORT
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${targetPort}`, agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 300_000;
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
