import { ConfigError, loadConfig } from './config';

describe('admin settings in the config', () => {
  test('the registry mode defaults to file with a registry file, else admin', () => {
    expect(loadConfig({ RELAY_CONFIG: '/etc/relay/registry.yaml' }).registryMode).toBe('file');
    expect(loadConfig({}).registryMode).toBe('admin');
    expect(loadConfig({ RELAY_CONFIG: '/r.yaml', RELAY_REGISTRY_MODE: 'admin' }).registryMode).toBe('admin');
  });

  test('file mode without a file, or an unknown mode, is refused', () => {
    expect(() => loadConfig({ RELAY_REGISTRY_MODE: 'file' })).toThrow(ConfigError);
    expect(() => loadConfig({ RELAY_REGISTRY_MODE: 'redis' })).toThrow(/file or admin/);
  });

  test('the admin token is off when unset, and must be 16+ characters without spaces', () => {
    expect(loadConfig({}).adminToken).toBeUndefined();
    expect(loadConfig({ RELAY_ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
    expect(loadConfig({ RELAY_ADMIN_TOKEN: 'a'.repeat(16) }).adminToken).toBe('a'.repeat(16));
    expect(() => loadConfig({ RELAY_ADMIN_TOKEN: 'short' })).toThrow(/at least 16/);
    expect(() => loadConfig({ RELAY_ADMIN_TOKEN: 'has a space in it somewhere' })).toThrow(ConfigError);
  });

  test('timeline retention has a floor', () => {
    expect(loadConfig({}).timelineRetentionMs).toBe(3_600_000);
    expect(() => loadConfig({ RELAY_TIMELINE_RETENTION_MS: '10' })).toThrow(/RELAY_TIMELINE_RETENTION_MS/);
  });

  test("the Dashboard's activity is kept a day, 1,000 events at most, unless told; both have a floor", () => {
    expect(loadConfig({})).toMatchObject({ activityRetentionMs: 86_400_000, recentEventsMax: 1_000 });
    expect(loadConfig({ RELAY_ACTIVITY_RETENTION_MS: '3600000', RELAY_RECENT_EVENTS_MAX: '50' })).toMatchObject({ activityRetentionMs: 3_600_000, recentEventsMax: 50 });
    expect(() => loadConfig({ RELAY_ACTIVITY_RETENTION_MS: '1000' })).toThrow(/RELAY_ACTIVITY_RETENTION_MS/);
    expect(() => loadConfig({ RELAY_RECENT_EVENTS_MAX: '0' })).toThrow(/RELAY_RECENT_EVENTS_MAX/);
  });

  test('finished-event retention defaults to a minute and has a floor', () => {
    expect(loadConfig({}).finishedRetentionMs).toBe(60_000);
    expect(loadConfig({ RELAY_FINISHED_RETENTION_MS: '1000' }).finishedRetentionMs).toBe(1_000);
    expect(() => loadConfig({ RELAY_FINISHED_RETENTION_MS: '0' })).toThrow(/RELAY_FINISHED_RETENTION_MS/);
  });
});
