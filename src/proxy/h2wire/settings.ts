// A peer's SETTINGS entries applied to a connection (RFC 9113 §6.5.2): bad values are connection
// errors; a new initial window moves every open stream's send window by the difference.
import {
  ErrorCode,
  H2ConnectionError,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  MIN_FRAME_SIZE,
  Setting,
} from './frames.js';
import type { WireBase } from './wire-base.js';

export function applySettings(c: WireBase, payload: Buffer): void {
  for (let p = 0; p < payload.length; p += 6) {
    const key = payload.readUInt16BE(p);
    const v = payload.readUInt32BE(p + 2);
    switch (key) {
      case Setting.ENABLE_PUSH:
        if (v > 1 || (v === 1 && !c.isServer)) {
          throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v}`);
        }
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        c.peerMaxConcurrent = v;
        break;
      case Setting.INITIAL_WINDOW_SIZE: {
        if (v > MAX_WINDOW)
          throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE');
        const delta = v - c.peerInitialWindow;
        c.peerInitialWindow = v;
        for (const s of c.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) {
            throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'stream window overflow');
          }
        }
        break;
      }
      case Setting.MAX_FRAME_SIZE:
        if (v < MIN_FRAME_SIZE || v > MAX_FRAME_SIZE_LIMIT) {
          throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v}`);
        }
        c.peerMaxFrame = v;
        break;
      default:
        break; // HEADER_TABLE_SIZE: our encoder never indexes; unknown settings are ignored
    }
  }
}
