import { Histogram, Registry } from 'prom-client';
import { TalliedHistogram } from './tallied-histogram';

const BOUNDS = [0.0001, 0.001, 0.01, 0.1, 1];

/** The same observations through prom-client's Histogram and a TalliedHistogram, each on a registry of its own. */
function both() {
  const promRegistry = new Registry();
  const prom = new Histogram({ name: 'h_seconds', help: 'a "help" text\\', labelNames: ['command'], buckets: BOUNDS, registers: [promRegistry] });
  const talliedRegistry = new Registry();
  const tallied = new TalliedHistogram('h_seconds', 'a "help" text\\', 'command', BOUNDS, talliedRegistry);
  const observe = (command: string, value: number) => {
    prom.observe({ command }, value);
    tallied.series(command).observe(value);
  };
  return { promRegistry, talliedRegistry, tallied, observe };
}

describe('TalliedHistogram', () => {
  test('a scrape reads what prom-client would write for the same observations', async () => {
    const { promRegistry, talliedRegistry, observe } = both();
    expect(await talliedRegistry.metrics()).toBe(await promRegistry.metrics()); // none yet
    // On the bounds, between them, past the last, and a label value that needs escaping
    const values = [0, 0.0001, 0.00011, 0.001, 0.005, 0.1, 0.5, 1, 7, 1e-9];
    for (const [i, value] of values.entries()) observe(i % 3 === 0 ? 'script:enqueue' : i % 3 === 1 ? 'hget' : 'we"ird\\\n', value);
    const written = await talliedRegistry.metrics();
    expect(written).toBe(await promRegistry.metrics());
    expect(written).toContain('h_seconds_bucket{le="0.01",command="hget"} 2');
    expect(written).toContain('h_seconds_count{command="script:enqueue"} 4');
    // as JSON too, but for prom-client's `exemplar: null` on each bucket (exemplars are off)
    const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      metrics.map((m) => ({ ...m, values: m.values.map((value) => {
        const { exemplar: _, ...rest } = value as typeof value & { exemplar?: unknown };
        return rest;
      }) }));
    expect(await talliedRegistry.getMetricsAsJSON()).toEqual(withoutExemplars(await promRegistry.getMetricsAsJSON()));
  });

  test('a series kept from before a reset counts on, from zero', async () => {
    const { tallied, talliedRegistry } = both();
    const hget = tallied.series('hget');
    hget.observe(0.5);
    hget.observe(0.5);
    talliedRegistry.resetMetrics();
    hget.observe(0.05);
    const counts = (await tallied.get()).values.filter((v) => v.metricName === 'h_seconds_count' || v.metricName === 'h_seconds_sum');
    expect(counts.map((v) => [v.metricName, v.value])).toEqual([
      ['h_seconds_sum', 0.05],
      ['h_seconds_count', 1],
    ]);
  });
});
