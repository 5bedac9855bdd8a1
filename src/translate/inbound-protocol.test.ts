// The inbound cluster's protocol to the app: from the Service port whose targetPort is the app
// port, else (an allocated app port, as `trellis up` gives replicas) from a Service whose ports
// all speak one protocol.
import assert from 'node:assert/strict';
import test from 'node:test';
import { CLUSTER_TYPE } from '../xds/type-urls.js';
import { translate } from './index.js';
import { service, sidecarNode, snapshot } from './testing.js';

const inbound = (svc: ReturnType<typeof service>): Record<string, unknown> | undefined => {
  const node = sidecarNode('default', svc.metadata.name); // app port 8080
  const out = translate(snapshot([svc]), node, CLUSTER_TYPE, ['inbound|8080']);
  return out.get('inbound|8080') as Record<string, unknown> | undefined;
};
const speaksH2 = (c: Record<string, unknown> | undefined): boolean =>
  JSON.stringify(c).includes('http2_protocol_options');

test('a targetPort that matches the app port decides', () => {
  assert.equal(
    speaksH2(inbound(service('inv', [{ port: 50051, targetPort: 8080, protocol: 'grpc' }]))),
    true,
  );
  assert.equal(speaksH2(inbound(service('web', [{ port: 80, targetPort: 8080, protocol: 'http' }]))), false);
});

test('an app port no targetPort names takes the protocol all the Service ports share', () => {
  assert.equal(speaksH2(inbound(service('inv', [{ port: 50051, protocol: 'grpc' }]))), true);
  assert.equal(
    speaksH2(
      inbound(
        service('inv', [
          { port: 50051, protocol: 'grpc' },
          { port: 50052, protocol: 'grpc' },
        ]),
      ),
    ),
    true,
  );
});

test('mixed protocols and no matching targetPort leave the protocol to detection', () => {
  assert.equal(
    speaksH2(
      inbound(
        service('mix', [
          { port: 50051, protocol: 'grpc' },
          { port: 80, protocol: 'http' },
        ]),
      ),
    ),
    false,
  );
});
