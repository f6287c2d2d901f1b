import { EVENT_ID_PATTERN } from '@relay/protocol';
import { newConnectionId, newEventId, nodeOfConnection } from './ids';

describe('event ids', () => {
  test('match the protocol pattern and are unique', () => {
    const ids = Array.from({ length: 10_000 }, () => newEventId(1_700_000_000_000));
    for (const id of ids.slice(0, 100)) expect(id).toMatch(EVENT_ID_PATTERN);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('sort by accept time: a later millisecond always sorts after', () => {
    const start = Date.UTC(2026, 10, 21);
    // across digit carries of the time part, and far apart
    const instants = [start, start + 1, start + 31, start + 32, start + 1_023, start + 1_024, start + 86_400_000, start + 10 * 365 * 86_400_000];
    const ids = instants.map((t) => newEventId(t));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('connection ids', () => {
  test('name the node that holds the socket, even when the node id has dots', () => {
    for (const node of ['n1', 'relay-7f9c-abc123', 'pod.with.dots-1a2b3c']) {
      const id = newConnectionId(node);
      expect(nodeOfConnection(id)).toBe(node);
      expect(newConnectionId(node)).not.toBe(id);
    }
  });
});
