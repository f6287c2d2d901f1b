import { createMetrics } from './metrics';

// Per-token counters add to plain numbers and reach their series when it is read: every count
// must be in every scrape taken after it, none counted twice.
test('tallied counters show every count in the next scrape, once', async () => {
  const metrics = createMetrics();
  metrics.busPublished.tally('app-token');
  metrics.busPublished.tally('app-token');
  metrics.busPublished.tally('deliver');
  metrics.tokensRelayed.tally();
  const first = await metrics.registry.metrics();
  expect(first).toContain('relay_bus_published_total{kind="app-token"} 2');
  expect(first).toContain('relay_bus_published_total{kind="deliver"} 1');
  expect(first).toContain('relay_tokens_relayed_total 1');
  metrics.busPublished.tally('app-token');
  const again = await metrics.busPublished.get();
  expect(again.values).toEqual(
    expect.arrayContaining([
      { labels: { kind: 'app-token' }, value: 3 },
      { labels: { kind: 'deliver' }, value: 1 },
    ]),
  );
  expect(await metrics.registry.metrics()).toContain('relay_bus_published_total{kind="app-token"} 3');
});
