// `npm run gen:xds`: regenerates src/xds/generated/xds-descriptor.json (the pruned xDS descriptor
// the runtime loads) from the .proto files of the pinned @grpc/grpc-js-xds. Commit the result.
import { writeFileSync } from 'node:fs';
import { descriptorPath } from '../proto-root.js';
import { xdsDescriptorText } from './xds-descriptor-gen.js';

const file = descriptorPath();
const text = xdsDescriptorText();
writeFileSync(file, text);
process.stdout.write(`wrote ${file} (${Math.round(text.length / 1024)} KiB)\n`);
