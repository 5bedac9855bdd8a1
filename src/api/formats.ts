// String formats of the config: Kubernetes names, hostnames, IP literals, header names, paths.
// Each check returns undefined when valid, else a message saying what would be valid.

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const IPV4 =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const GRPC_SERVICE = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

export function dnsLabelError(v: string): string | undefined {
  return v.length <= 63 && DNS_LABEL.test(v)
    ? undefined
    : 'must be a DNS-1123 label: at most 63 lower-case letters, digits or "-", starting and ending with a letter or digit (e.g. "reviews-v2")';
}

export function dnsSubdomainError(v: string): string | undefined {
  return v.length <= 253 && DNS_SUBDOMAIN.test(v)
    ? undefined
    : 'must be a DNS-1123 subdomain: at most 253 lower-case letters, digits, "-" or ".", each dot-separated part starting and ending with a letter or digit (e.g. "reviews-route")';
}

/** Gateway API Hostname: a DNS name, optionally with a leading `*.` wildcard; no IPs, no port. */
export function hostnameError(v: string, wildcard = true): string | undefined {
  const lower = v.toLowerCase();
  const ok = lower.length <= 253 && HOSTNAME.test(lower) && (wildcard || !lower.startsWith('*.'));
  if (ok && !ipLiteral(lower)) return undefined;
  return `must be a DNS hostname such as "reviews.example.com"${wildcard ? ' (a leading "*." wildcard is allowed)' : ''}; IP addresses, ports and trailing dots are not allowed`;
}

/** The canonical form of an IPv4 or IPv6 literal (no zone, no brackets), or undefined. */
export function ipLiteral(v: string): string | undefined {
  if (IPV4.test(v)) return v;
  if (!v.includes(':') || /[^0-9A-Fa-f:.]/.test(v)) return undefined;
  try {
    return new URL(`http://[${v}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

export function addressError(v: string): string | undefined {
  if (ipLiteral(v) !== undefined) return undefined;
  const looksLikeHost = /^[A-Za-z0-9.-]+$/.test(v) && /[A-Za-z]/.test(v);
  return looksLikeHost
    ? 'hostnames are not supported for static endpoints (Trellis does no DNS resolution here); use an IPv4 or IPv6 literal such as "10.0.0.7" or "fd00::7"'
    : 'must be an IPv4 or IPv6 literal such as "10.0.0.7" or "fd00::7" (no port, brackets or zone)';
}

/** RFC 7230 token, at most 256 characters (Gateway API HTTPHeaderName). */
export function headerNameError(v: string): string | undefined {
  return v.length >= 1 && v.length <= 256 && HEADER_NAME.test(v)
    ? undefined
    : "must be an HTTP header name: 1 to 256 letters, digits or !#$%&'*+-.^_`|~ (no spaces or colons)";
}

/** Kubernetes label key: optional DNS subdomain prefix and `/`, then a name of up to 63 characters. */
export function labelKeyError(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = k.slice(slash + 1);
  const prefixOk = prefix === undefined || dnsSubdomainError(prefix) === undefined;
  return prefixOk && name.length > 0 && name.length <= 63 && LABEL_NAME.test(name)
    ? undefined
    : 'label keys must be "[prefix/]name": name at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit; prefix a DNS subdomain (e.g. "app.kubernetes.io/version")';
}

export function labelValueError(v: string): string | undefined {
  return v.length <= 63 && LABEL_NAME.test(v)
    ? undefined
    : 'label values must be at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (or empty)';
}

/** Gateway API path rules for Exact/PathPrefix matches and path modifiers. */
export function absolutePathError(v: string): string | undefined {
  if (!v.startsWith('/')) return `must be an absolute path starting with "/" (e.g. "/${v}")`;
  if (v.length > 1024) return 'must be at most 1024 characters';
  if (/\/\/|\/\.\.?(\/|$)|%2f|%2F|#/.test(v))
    return 'must not contain "//", "/./", "/../", "%2f" or "#" (the path must be normalized)';
  return undefined;
}

export function grpcServiceError(v: string): string | undefined {
  return GRPC_SERVICE.test(v) && v.length <= 1024
    ? undefined
    : 'must be a fully qualified gRPC service name such as "shop.Inventory" (letters, digits, "_" and ".")';
}

export function grpcMethodError(v: string): string | undefined {
  return GRPC_METHOD.test(v) && v.length <= 1024
    ? undefined
    : 'must be a gRPC method name such as "GetStock" (letters, digits and "_")';
}
