// Test support: self-signed TLS certificates (ECDSA P-256) with chosen DNS names and validity, as
// PEM, and kubernetes.io/tls Secret YAML holding them (data, base64).
import { createPrivateKey, randomBytes } from 'node:crypto';
import { EC_P256, subtle, x509, type CryptoKey } from './x509-lib.js';

export interface TestCert {
  readonly cert: string;
  readonly key: string;
}

const DAY = 86_400_000;

export async function makeTlsCert(
  names: readonly string[],
  opts: { notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCert> {
  const keys = (await subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as {
    privateKey: CryptoKey;
    publicKey: CryptoKey;
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${names[0] ?? 'test'}`,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * DAY),
    keys: keys as never,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
      new x509.BasicConstraintsExtension(false, undefined, true),
    ],
  });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey as never));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return { cert: cert.toString('pem') + '\n', key };
}

/** A Secret document (YAML) with `c` as base64 data. */
export function secretYaml(name: string, c: TestCert, namespace = 'default'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: kubernetes.io/tls
data:
  tls.crt: ${b64(c.cert)}
  tls.key: ${b64(c.key)}
`;
}
