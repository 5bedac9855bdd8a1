// `trellis logs WORKLOAD [-f] [--replica N] [--sidecar]`: prints (and with -f follows) the log files
// `trellis up` writes for a Workload's replicas, each line prefixed with its replica. The data dir
// comes from --data-dir, or from the running `trellis up` whose API is --server (see src/up/data-dir.ts).
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError } from '../../common/errors.js';
import { LOG_DIR, readPointer } from '../../up/data-dir.js';
import { serverUrl } from '../client.js';
import { parseFlags } from '../flags.js';

export const LOGS_HELP = `Usage: trellis logs WORKLOAD [-f] [--replica N] [--sidecar] [-n NAMESPACE] [--data-dir DIR] [--server URL]
  -f, --follow     keep printing new lines (and new replicas) until Ctrl-C
  --replica N      only replica N (1-based)
  --sidecar        the replicas' sidecar logs instead of the app's
  --data-dir DIR   the data dir of 'trellis up' (default: the one whose API is --server)
`;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Source {
  readonly file: string;
  readonly prefix: string;
  readonly index: number;
  offset: number;
  partial: string;
}

async function findDataDir(flag: string | undefined, server: string): Promise<string> {
  if (flag !== undefined) return flag;
  const port = Number(new URL(server).port || 80);
  const p = readPointer(port);
  if (p === undefined)
    throw new TrellisError(
      'NOT_FOUND',
      `no running 'trellis up' with its API on port ${port} (${server}); start one, point --server at its API, or pass --data-dir`,
    );
  return p.dataDir;
}

export async function logsCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      follow: { type: 'boolean', short: 'f' },
      replica: { type: 'string' },
      sidecar: { type: 'boolean' },
      namespace: { type: 'string', short: 'n' },
      'data-dir': { type: 'string' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    LOGS_HELP,
    true,
  );
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(LOGS_HELP);
    return 0;
  }
  const name = parsed.positionals[0];
  if (name === undefined || parsed.positionals.length > 1)
    throw new TrellisError('BAD_REQUEST', `logs needs one WORKLOAD\n${LOGS_HELP}`);
  if (v.replica !== undefined && !/^\d+$/.test(v.replica))
    throw new TrellisError(
      'BAD_REQUEST',
      `--replica must be a replica number (1, 2, ...), got '${v.replica}'`,
    );
  const ns = v.namespace ?? 'default';
  const id = ns === 'default' ? name : `${name}.${ns}`;
  const dir = join(await findDataDir(v['data-dir'], serverUrl(v.server)), LOG_DIR);
  const pattern = new RegExp(`^${escape(id)}-(\\d+)${v.sidecar ? '\\.sidecar' : ''}\\.log$`);

  const sources = new Map<string, Source>();
  const scan = async (): Promise<void> => {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const f of names) {
      const m = pattern.exec(f);
      if (!m || sources.has(f)) continue;
      const index = Number(m[1]);
      if (v.replica !== undefined && index !== Number(v.replica)) continue;
      sources.set(f, {
        file: join(dir, f),
        prefix: `${id}-${index}${v.sidecar ? ' sidecar' : ''} | `,
        index,
        offset: 0,
        partial: '',
      });
    }
  };
  const drain = async (s: Source): Promise<void> => {
    const size = await stat(s.file).then(
      (st) => st.size,
      () => s.offset,
    );
    if (size < s.offset) s.offset = 0; // a new run of trellis up truncated it
    if (size === s.offset) return;
    const fh = await open(s.file, 'r');
    try {
      const buf = Buffer.alloc(size - s.offset);
      await fh.read(buf, 0, buf.length, s.offset);
      s.offset = size;
      const text = s.partial + buf.toString('utf8');
      const lines = text.split('\n');
      s.partial = lines.pop() ?? '';
      if (lines.length > 0) process.stdout.write(lines.map((l) => s.prefix + l + '\n').join(''));
    } finally {
      await fh.close();
    }
  };
  const ordered = () => [...sources.values()].sort((a, b) => a.index - b.index);

  await scan();
  if (sources.size === 0 && !v.follow) {
    const names = await readdir(dir).catch(() => [] as string[]);
    const known = [...new Set(names.map((f) => /^(.*)-\d+(\.sidecar)?\.log$/.exec(f)?.[1]).filter(Boolean))];
    throw new TrellisError(
      'NOT_FOUND',
      `no logs for workload ${id}${v.replica ? ` replica ${v.replica}` : ''} in ${dir}; workloads with logs: ${known.join(', ') || '(none)'}`,
    );
  }
  for (const s of ordered()) await drain(s);
  if (!v.follow) return 0;
  await new Promise<void>((done) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        await scan();
        for (const s of ordered()) await drain(s);
      })().finally(() => (busy = false));
    }, 250);
    const stop = () => {
      clearInterval(timer);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
