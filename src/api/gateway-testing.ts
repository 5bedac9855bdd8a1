// Test support: YAML of the Gateway `edge` set-ups that the unit tests (translate, api) and the
// ingress gateway e2e tests share.

/** Service `web` (one http port, 80) and HTTPRoute `web` sending all of Gateway `edge` to it. */
export const WEB_BEHIND_EDGE_YAML = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 80, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
`;

/**
 * Gateway `edge` with three HTTPS listeners on port `https`: `shop` (shop.example, Secret
 * shop-cert; mode Terminate and kind Secret spelt out), `wild` (*.other.example, other-cert; the
 * defaults left out) and `fallback` (no hostname: the default certificate, `fallbackCert`); and
 * `plain`, HTTP on port `http`.
 */
export function httpsEdgeYaml(https: number, http: number, fallbackCert: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: trellis
  listeners:
    - name: shop
      port: ${https}
      protocol: HTTPS
      hostname: shop.example
      tls: { mode: Terminate, certificateRefs: [{ kind: Secret, name: shop-cert }] }
    - name: wild
      port: ${https}
      protocol: HTTPS
      hostname: "*.other.example"
      tls: { certificateRefs: [{ name: other-cert }] }
    - name: fallback
      port: ${https}
      protocol: HTTPS
      tls: { certificateRefs: [{ name: ${fallbackCert} }] }
    - { name: plain, port: ${http}, protocol: HTTP }
`;
}
