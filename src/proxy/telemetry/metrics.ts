// A tiny allocation-free Prometheus registry: counters, gauges and fixed-bucket histograms whose
// label sets are resolved once (to plain objects) and then bumped with no lookup per request.
//
// Why not prom-client: its `inc({labels})`/`observe({labels}, v)` hash a label object into a key
// string on every call (an allocation and a map lookup per metric per request), which on this hot
// path (≤ 45 µs per request in total) is a measurable share; here the request path only does
// `counter.value++` and a bucket scan on a Float64Array.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export class Counter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Gauge {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Histogram {
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
}

type Series = Counter | Gauge | Histogram;

/** One metric name with its label names; `labels(...)` resolves (and caches) one series. */
export class MetricFamily<T extends Series> {
  private readonly series = new Map<string, { values: readonly string[]; metric: T }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    private readonly make: () => T,
  ) {}

  /** Resolve once (config time / first use), keep the returned object, bump it per request. */
  labels(...values: string[]): T {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      s = { values, metric: this.make() };
      this.series.set(key, s);
    }
    return s.metric;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { values, metric } of this.series.values()) {
      const lbl = labelText(this.labelNames, values);
      if (metric instanceof Histogram) {
        let cum = 0;
        for (let i = 0; i < metric.bounds.length; i++) {
          cum += metric.counts[i] as number;
          out.push(
            `${this.name}_bucket${labelText(this.labelNames, values, String(metric.bounds[i]))} ${cum}`,
          );
        }
        cum += metric.counts[metric.bounds.length] as number;
        out.push(`${this.name}_bucket${labelText(this.labelNames, values, '+Inf')} ${cum}`);
        out.push(
          `${this.name}_sum${lbl} ${sampleValue(metric.sum)}`,
          `${this.name}_count${lbl} ${metric.count}`,
        );
      } else {
        out.push(`${this.name}${lbl} ${sampleValue(metric.value)}`);
      }
    }
  }
}

/** A sample value as the text format spells it (JavaScript's `Infinity` is `+Inf` there). */
export function sampleValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** HELP text escaping: backslash and line feed (quotes are literal there). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label value escaping: backslash, double quote and line feed. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(names: readonly string[], values: readonly string[], le?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabel(values[i] ?? '')}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Latency buckets in seconds (0.5 ms .. 30 s). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class MetricsRegistry {
  private readonly families: MetricFamily<Series>[] = [];

  counter(name: string, help: string, labelNames: readonly string[]): MetricFamily<Counter> {
    return this.add(new MetricFamily(name, help, 'counter', labelNames, () => new Counter()));
  }
  gauge(name: string, help: string, labelNames: readonly string[]): MetricFamily<Gauge> {
    return this.add(new MetricFamily(name, help, 'gauge', labelNames, () => new Gauge()));
  }
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[] = LATENCY_BUCKETS,
  ): MetricFamily<Histogram> {
    return this.add(new MetricFamily(name, help, 'histogram', labelNames, () => new Histogram(bounds)));
  }

  /**
   * A name registered twice would be rendered twice (a second HELP/TYPE for one name: Prometheus
   * rejects the whole scrape), so the same name with the same type and label names returns the
   * family already registered, and a different shape under one name is a programming error.
   */
  private add<T extends Series>(f: MetricFamily<T>): MetricFamily<T> {
    if (!METRIC_NAME.test(f.name))
      throw new Error(`metric name ${JSON.stringify(f.name)} is not [a-zA-Z_][a-zA-Z0-9_]*`);
    for (const l of f.labelNames)
      if (!LABEL_NAME.test(l) || l === 'le' || l.startsWith('__'))
        throw new Error(
          `metric ${f.name}: label name ${JSON.stringify(l)} is not [a-zA-Z_][a-zA-Z0-9_]* (nor le, nor __*)`,
        );
    const old = this.families.find((x) => x.name === f.name);
    if (old !== undefined) {
      if (old.type !== f.type || old.labelNames.join(',') !== f.labelNames.join(','))
        throw new Error(
          `metric ${f.name} registered twice with different shapes: ${old.type}{${old.labelNames.join(',')}} and ${f.type}{${f.labelNames.join(',')}}`,
        );
      return old as unknown as MetricFamily<T>;
    }
    this.families.push(f as unknown as MetricFamily<Series>);
    return f;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families) f.render(out);
    return `${out.join('\n')}\n`;
  }
}
