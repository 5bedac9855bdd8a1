// Messages between the benchmark (parent) and its simulator processes (sim-worker.ts) over IPC.

export interface ProxySpec {
  readonly index: number;
  readonly id: string;
  /** Listener names (xDS targets) this proxy watches. */
  readonly targets: readonly string[];
}

export type ParentMessage =
  | { op: 'start'; target: string; streamsPerChannel: number; proxies: ProxySpec[] }
  /** Opens a window: a route change on `listener`, or an endpoint change on `clusters`. */
  | { op: 'watch'; id: number; listener?: string; clusters?: string[] }
  | { op: 'collect'; id: number }
  /** Report initial-config times now, complete or not. */
  | { op: 'report' }
  | { op: 'stop' };

export interface WindowResult {
  readonly id: number;
  readonly type: string;
  /** Proxies subscribed to the changed resource. */
  readonly affected: number;
  /** Receipt times (epoch ms) of the new resource, one per affected proxy reached. */
  readonly hits: number[];
  /** Proxies not subscribed to the changed resource that got any response during the window. */
  readonly unaffectedProxies: number;
  readonly unaffectedResponses: number;
  /** Responses to affected proxies besides the one carrying the change. */
  readonly affectedExtra: number;
  /** Resources resent byte-identical during the window. */
  readonly redundant: number;
}

export type WorkerMessage =
  | { op: 'ready' }
  | { op: 'progress'; completed: number; total: number }
  | {
      op: 'initial';
      startedAt: number[];
      completedAt: number[];
      responses: number;
      firstByType: Record<string, number[]>;
      errors: number;
      sampleErrors: string[];
    }
  | { op: 'watching'; id: number; affected: number; names: string[] }
  | { op: 'window-done'; id: number }
  | { op: 'collected'; result: WindowResult }
  | { op: 'error'; message: string };
