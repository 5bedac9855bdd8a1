// Starts the sidecar's workload identity when it has a bootstrap token (--token-file,
// TRELLIS_TOKEN_FILE or TRELLIS_TOKEN); without one, warns once that the sidecar runs in plaintext.
import type { Logger } from '../../common/logger.js';
import type { ProxyBootstrap } from '../main/bootstrap.js';
import { SidecarIdentity, type IdentityFetch } from './sidecar-identity.js';
import { tokenSourceFrom } from './token-source.js';

export function startSidecarIdentity(
  b: ProxyBootstrap,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  /** HTTPS to the control plane (--ca-bundle); default: plain fetch. */
  fetch?: IdentityFetch,
): SidecarIdentity | undefined {
  const token = tokenSourceFrom(b.tokenFile, env, (mode) =>
    logger.warn(
      { tokenFile: b.tokenFile, mode: mode.toString(8) },
      `the token file can be read by group or others; run: chmod 600 ${b.tokenFile ?? ''}`,
    ),
  );
  if (!token) {
    logger.warn(
      { component: 'identity' },
      'no bootstrap token (--token-file, TRELLIS_TOKEN_FILE or TRELLIS_TOKEN): running without a workload certificate; traffic is plaintext',
    );
    return undefined;
  }
  const identity = new SidecarIdentity({
    api: b.api,
    nodeId: b.nodeId,
    token,
    logger,
    ...(fetch ? { fetch } : {}),
  });
  identity.start();
  return identity;
}
