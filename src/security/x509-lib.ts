// The one place @peculiar/x509 is loaded (control-plane side: CA generation, CSR parsing and
// signing). It runs on Node's WebCrypto. The sidecar's hot paths use node:crypto and cert-info.ts.

import './reflect-shim.js';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export const subtle = webcrypto.subtle;
/** ECDSA P-256 with SHA-256: the only algorithm Trellis issues and signs with. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
