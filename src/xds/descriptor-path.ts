// Where the generated xDS descriptor (`npm run gen:xds`) is, without loading protobufjs: the
// sidecar's light codec (lite/) reads it too.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the generated descriptor is: next to this file in src/, or in src/ when running from dist/. */
export function descriptorPath(): string {
  const here = new URL('./generated/xds-descriptor.json', import.meta.url);
  const fromDist = new URL('../../../src/xds/generated/xds-descriptor.json', import.meta.url);
  const inSrc = fileURLToPath(here);
  if (existsSync(inSrc) || !import.meta.url.includes('/dist/')) return inSrc;
  return fileURLToPath(fromDist);
}
