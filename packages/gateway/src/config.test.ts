import { ConfigError, ENV, loadConfig, SETTING_GROUPS, settingsHelp } from './config';

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
    expect(loadConfig({ RELAY_FINISHED_RETENTION_MS: '2000', RELAY_NODE_TTL_MS: '1000' }).finishedRetentionMs).toBe(2_000);
    expect(() => loadConfig({ RELAY_FINISHED_RETENTION_MS: '0' })).toThrow(/RELAY_FINISHED_RETENTION_MS/);
  });
});

describe('settings that depend on each other', () => {
  test('finished-event retention must be at least twice the node TTL, and the error says why', () => {
    expect(loadConfig({ RELAY_NODE_TTL_MS: '30000', RELAY_FINISHED_RETENTION_MS: '60000' }).finishedRetentionMs).toBe(60_000);
    expect(() => loadConfig({ RELAY_NODE_TTL_MS: '30001' })).toThrow(ConfigError);
    expect(() => loadConfig({ RELAY_NODE_TTL_MS: '30001' })).toThrow(
      /RELAY_FINISHED_RETENTION_MS \(60000\) must be at least twice RELAY_NODE_TTL_MS \(30001\): .*dead/,
    );
    expect(() => loadConfig({ RELAY_FINISHED_RETENTION_MS: '19999' })).toThrow(/RELAY_FINISHED_RETENTION_MS/);
  });

  test('tokens are dropped below the buffer that closes a socket', () => {
    expect(loadConfig({ RELAY_TOKEN_DROP_BYTES: '65535', RELAY_MAX_BUFFERED_BYTES: '65536' }).tokenDropBytes).toBe(65_535);
    expect(() => loadConfig({ RELAY_TOKEN_DROP_BYTES: '65536', RELAY_MAX_BUFFERED_BYTES: '65536' })).toThrow(
      /RELAY_TOKEN_DROP_BYTES \(65536\) must be below RELAY_MAX_BUFFERED_BYTES \(65536\)/,
    );
  });

  test('the defaults satisfy every rule', () => {
    expect(() => loadConfig({})).not.toThrow();
  });
});

describe('one table of settings', () => {
  test('--help lists every setting once, under the title of its group, with its default', () => {
    const help = settingsHelp();
    const sections = help.split('\n\n');
    expect(sections.map((s) => s.split('\n')[0])).toEqual(Object.values(SETTING_GROUPS).map((t) => `${t}:`));
    for (const [name, spec] of Object.entries(ENV)) {
      const section = sections.find((s) => s.startsWith(`${SETTING_GROUPS[spec.group]}:`)) as string;
      const line = section.split('\n').find((l) => l.trimStart().startsWith(`${name} `));
      expect(line).toContain(spec.help);
      if (spec.default) expect(line).toContain(`(default ${spec.default})`);
      expect(help.split(`  ${name} `)).toHaveLength(2);
    }
  });

  test('every whole-number setting is read with the floor the table gives it', () => {
    for (const [name, spec] of Object.entries(ENV)) {
      if (!('min' in spec)) continue;
      expect(() => loadConfig({ [name]: String(spec.min - 1) })).toThrow(new RegExp(`${name} must be an integer >= ${spec.min}`));
      expect(() => loadConfig({ [name]: 'ten' })).toThrow(ConfigError);
    }
  });
});
