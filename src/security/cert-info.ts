// Reads what node:crypto's X509Certificate does not expose exactly: the validity window to the
// second, and the extensions (URI SANs as raw strings, key usage bits, basic constraints, EKU).
// Light on purpose (no ASN.1 library), so the sidecar can use it per handshake.

import { children, decodeOid, decodeTime, DerError, expectTag, readTlv, TAG, type Tlv } from './der.js';

export const OID = {
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

/** KeyUsage bits as numbers (bit 0 = digitalSignature is the most significant bit of the first byte). */
export const KEY_USAGE = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

export interface CertExtension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export interface CertInfo {
  /** The issuer and subject Names exactly as encoded (a CA's subject is copied into what it signs). */
  issuerDer: Buffer;
  subjectDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: CertExtension[];
  /** URI SANs, exactly as encoded. */
  uriSans: string[];
  /** Number of SAN entries that are not URIs (DNS names, IPs, ...). */
  otherSans: number;
  /** KeyUsage bits (see KEY_USAGE), or undefined when the extension is absent. */
  keyUsage: number | undefined;
  /** ExtendedKeyUsage OIDs, or undefined when the extension is absent. */
  extKeyUsage: string[] | undefined;
  /** BasicConstraints: undefined when absent. */
  basicConstraints: { ca: boolean; pathLen: number | undefined } | undefined;
}

function parseExtensions(der: Uint8Array, exts: Tlv): CertExtension[] {
  const list = expectTag(children(der, exts)[0], TAG.SEQUENCE, 'extensions');
  const out: CertExtension[] = [];
  for (const e of children(der, list)) {
    const parts = children(der, expectTag(e, TAG.SEQUENCE, 'extension'));
    const oid = decodeOid(der, expectTag(parts[0], TAG.OID, 'extension id'));
    let i = 1;
    let critical = false;
    if (parts[i]?.tag === TAG.BOOLEAN) {
      critical = der[(parts[i] as Tlv).start] !== 0;
      i++;
    }
    const v = expectTag(parts[i], TAG.OCTET_STRING, `extension ${oid} value`);
    if (out.some((x) => x.oid === oid)) throw new DerError(`extension ${oid} appears twice`);
    out.push({ oid, critical, value: Buffer.from(der.subarray(v.start, v.end)) });
  }
  return out;
}

function bitStringBits(v: Buffer): number {
  const t = expectTag(readTlv(v, 0), TAG.BIT_STRING, 'keyUsage');
  let bits = 0;
  // Bit i of the BIT STRING is bit (7 - i % 8) of content byte 1 + i / 8.
  for (let i = 0; i < (t.end - t.start - 1) * 8 && i < 16; i++) {
    const byte = v[t.start + 1 + (i >> 3)] as number;
    if (byte & (0x80 >> (i & 7))) bits |= 1 << i;
  }
  return bits;
}

export function parseCertInfo(der: Uint8Array): CertInfo {
  const cert = expectTag(readTlv(der, 0), TAG.SEQUENCE, 'certificate');
  if (cert.next !== der.length) throw new DerError('trailing bytes after the certificate');
  const tbs = expectTag(children(der, cert)[0], TAG.SEQUENCE, 'tbsCertificate');
  const f = children(der, tbs);
  let i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  i += 2; // serial, signature algorithm
  const issuer = expectTag(f[i], TAG.SEQUENCE, 'issuer');
  const subject = expectTag(f[i + 2], TAG.SEQUENCE, 'subject');
  i += 1;
  const validity = children(der, expectTag(f[i], TAG.SEQUENCE, 'validity'));
  const notBefore = decodeTime(der, validity[0] as Tlv);
  const notAfter = decodeTime(der, validity[1] as Tlv);
  const extTlv = f.find((t) => t.tag === 0xa3);
  const extensions = extTlv ? parseExtensions(der, extTlv) : [];
  const info: CertInfo = {
    issuerDer: Buffer.from(der.subarray(issuer.at, issuer.end)),
    subjectDer: Buffer.from(der.subarray(subject.at, subject.end)),
    notBefore,
    notAfter,
    extensions,
    uriSans: [],
    otherSans: 0,
    keyUsage: undefined,
    extKeyUsage: undefined,
    basicConstraints: undefined,
  };
  for (const e of extensions) {
    const v = e.value;
    if (e.oid === OID.subjectAltName) {
      for (const n of children(v, expectTag(readTlv(v, 0), TAG.SEQUENCE, 'subjectAltName'))) {
        if (n.tag === 0x86) info.uriSans.push(v.subarray(n.start, n.end).toString('latin1'));
        else info.otherSans++;
      }
    } else if (e.oid === OID.keyUsage) {
      info.keyUsage = bitStringBits(v);
    } else if (e.oid === OID.extKeyUsage) {
      info.extKeyUsage = children(v, expectTag(readTlv(v, 0), TAG.SEQUENCE, 'extKeyUsage')).map((t) =>
        decodeOid(v, expectTag(t, TAG.OID, 'extKeyUsage entry')),
      );
    } else if (e.oid === OID.basicConstraints) {
      const parts = children(v, expectTag(readTlv(v, 0), TAG.SEQUENCE, 'basicConstraints'));
      let ca = false;
      let pathLen: number | undefined;
      for (const p of parts) {
        if (p.tag === TAG.BOOLEAN) ca = v[p.start] !== 0;
        else if (p.tag === TAG.INTEGER && p.end - p.start <= 2)
          pathLen = v.readUIntBE(p.start, p.end - p.start);
      }
      info.basicConstraints = { ca, pathLen };
    }
  }
  return info;
}
