// `npm run bench`: runs the benchmarks in turn with their default sizes, passing flags through
// (today: xds-scale, the control plane at 1,000 Services and 2,000 proxies).
import { parseScaleArgs, runXdsScale } from './xds-scale.js';

const ok = await runXdsScale(parseScaleArgs(process.argv.slice(2)));
console.log(ok ? '\nxds-scale: every target met' : '\nxds-scale: some targets missed (see above)');
process.exit(0);
