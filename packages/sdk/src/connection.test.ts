import { endpointUrl } from './connection';

describe('endpointUrl', () => {
  test('appends the role path to a base URL, keeps a full endpoint, reads http(s) as ws(s)', () => {
    expect(endpointUrl('ws://localhost:8080', 'app', 't', 'header')).toBe('ws://localhost:8080/v1/ws/app');
    expect(endpointUrl('wss://relay.example/', 'agent', 't', 'header')).toBe('wss://relay.example/v1/ws/agent');
    expect(endpointUrl('ws://h/v1/ws/app', 'app', 't', 'header')).toBe('ws://h/v1/ws/app');
    expect(endpointUrl('https://h/base', 'app', 't', 'header')).toBe('wss://h/base/v1/ws/app');
  });

  test("tokenIn 'query' puts the token in the query string, URL-encoded", () => {
    expect(endpointUrl('ws://h', 'app', 'rlk_a_b+c', 'query')).toBe('ws://h/v1/ws/app?token=rlk_a_b%2Bc');
  });

  test('refuses what is not a WebSocket URL', () => {
    expect(() => endpointUrl('ftp://h', 'app', 't', 'header')).toThrow('not a WebSocket URL: ftp://h');
    expect(() => endpointUrl('not a url', 'app', 't', 'header')).toThrow('Invalid URL');
  });
});
