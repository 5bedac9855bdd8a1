// RE2, the regex engine Envoy and gRPC use, from re2-wasm; loaded on first use, because loading it
// reserves ~13 MB of WebAssembly memory that a sidecar without regexes should not pay for.

export type RE2Ctor = typeof import('re2-wasm').RE2;
let re2: RE2Ctor | undefined;

export function RE2Engine(): RE2Ctor {
  re2 ??= (
    process.getBuiltinModule('node:module').createRequire(import.meta.url)(
      're2-wasm',
    ) as typeof import('re2-wasm')
  ).RE2;
  return re2;
}
