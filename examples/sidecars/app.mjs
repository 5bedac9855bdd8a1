// A tiny demo app: answers every request with its name (first argument) and version.
import { createServer } from 'node:http';
const [name = 'app', version = 'v1', port = '9081'] = process.argv.slice(2);
createServer((req, res) => res.end(`${name} ${version}: ${req.method} ${req.url}\n`)).listen(
  Number(port),
  '127.0.0.1',
);
