// Loads createDataPlane from src/proxy/create-data-plane.ts (built by another change); until it
// lands, a clear error instead of a compile failure. Replace with a static import once it exists.
import { TrellisError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { DataPlane, DataPlaneOptions } from '../data-plane.js';

export type CreateDataPlane = (opts: DataPlaneOptions & { readonly logger: Logger }) => DataPlane;

export async function loadCreateDataPlane(): Promise<CreateDataPlane> {
  const specifier = '../create-data-plane.js';
  try {
    const mod = (await import(specifier)) as { createDataPlane?: CreateDataPlane };
    if (typeof mod.createDataPlane === 'function') return mod.createDataPlane;
  } catch {
    /* reported below */
  }
  throw new TrellisError(
    'UNAVAILABLE',
    'this build has no data plane (src/proxy/create-data-plane.ts is missing)',
  );
}
