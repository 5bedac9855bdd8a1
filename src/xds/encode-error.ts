// The error of the strict xDS encoders (any.ts, lite/encode-request.ts): the path of the bad field
// and why.
export class XdsEncodeError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'XdsEncodeError';
  }
}
