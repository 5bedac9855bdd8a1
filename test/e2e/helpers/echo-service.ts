// A tiny gRPC "Echo" service without .proto files (JSON messages), used as a mesh backend in tests.
import * as grpc from '@grpc/grpc-js';

export interface HelloReply {
  server: string;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};

export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Hello: {
    path: '/trellis.test.Echo/Hello',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** Starts an Echo server on 127.0.0.1 (port 0 = any) that answers with its name. */
export async function startEchoServer(
  name: string,
  port = 0,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Hello: (_call: grpc.ServerUnaryCall<unknown, HelloReply>, cb: grpc.sendUnaryData<HelloReply>) =>
      cb(null, { server: name }),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
