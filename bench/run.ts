// `npm run bench`: runs the benchmarks in turn with their default sizes, passing flags through:
// xds-scale (the control plane at 1,000 Services and 2,000 proxies), then sidecar (the data plane
// vs HAProxy, nginx and http-proxy). `--only xds-scale|sidecar` runs one.
import { SIDECAR_FLAGS, parseSidecarArgs, runSidecarBench } from './sidecar-bench.js';
import { parseScaleArgs, runXdsScale } from './xds-scale.js';

const BENCHES = ['xds-scale', 'sidecar'] as const;

/** Splits argv: `--only`, the sidecar benchmark's flags, and the rest (xds-scale's). Shared flags go to both. */
function split(argv: readonly string[]): { only?: string; scale: string[]; sidecar: string[] } {
  const out: { only?: string; scale: string[]; sidecar: string[] } = { scale: [], sidecar: [] };
  const scaleFlags = new Set(['repeat', 'no-pin', 'max-minutes']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([^=]+)(=.*)?$/.exec(arg);
    const name = m?.[1] ?? '';
    const def = (SIDECAR_FLAGS as Record<string, { type: string }>)[name];
    const takesValue =
      m && !m[2] && def?.type !== 'boolean' && name !== 'no-pin' && argv[i + 1] !== undefined;
    const words = takesValue && !argv[i + 1]!.startsWith('--') ? [arg, argv[++i]!] : [arg];
    if (name === 'only') {
      out.only = m?.[2]?.slice(1) ?? words[1];
      continue;
    }
    if (def) out.sidecar.push(...words);
    if (!def || scaleFlags.has(name)) out.scale.push(...words);
  }
  return out;
}

const args = split(process.argv.slice(2));
if (args.only !== undefined && !(BENCHES as readonly string[]).includes(args.only)) {
  console.error(`--only: '${args.only}' is not one of ${BENCHES.join(', ')}`);
  process.exit(2);
}
if (args.only === undefined || args.only === 'xds-scale') {
  const ok = await runXdsScale(parseScaleArgs(args.scale));
  console.log(ok ? '\nxds-scale: every target met' : '\nxds-scale: some targets missed (see above)');
}
if (args.only === undefined || args.only === 'sidecar') {
  const ok = await runSidecarBench(parseSidecarArgs(args.sidecar));
  console.log(
    ok ? '\nsidecar: every target met' : '\nsidecar: some targets missed or not evaluated (see above)',
  );
}
process.exit(0);
