// The allocation-free registry: text exposition format, cumulative buckets, label escaping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricsRegistry } from './metrics.js';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and cumulative histograms', () => {
    const r = new MetricsRegistry();
    const c = r.counter('t_requests_total', 'Requests', ['route']).labels('a"b\\');
    c.inc();
    c.inc(2);
    r.gauge('t_open', 'Open', []).labels().inc(5);
    const h = r.histogram('t_seconds', 'Latency', ['cluster'], [0.1, 1]).labels('c');
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const text = r.render();
    assert.match(text, /# TYPE t_requests_total counter\nt_requests_total\{route="a\\"b\\\\"\} 3\n/);
    assert.match(text, /\nt_open 5\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="0.1"\} 1\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="1"\} 2\n/);
    assert.match(text, /t_seconds_bucket\{cluster="c",le="\+Inf"\} 3\n/);
    assert.match(text, /t_seconds_count\{cluster="c"\} 3\n/);
  });

  it('resolves a label set to the same series object', () => {
    const f = new MetricsRegistry().counter('x', 'x', ['a']);
    assert.equal(f.labels('1'), f.labels('1'));
    assert.notEqual(f.labels('1'), f.labels('2'));
  });
});
