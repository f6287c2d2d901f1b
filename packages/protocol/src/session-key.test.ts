import { sessionKey } from './session-key';

describe('sessionKey', () => {
  test.each<[string, string, string]>([
    // The example in PROTOCOL.md / seed 000.
    ['athena', 'portal:task-123:comment-456', 'relay:athena:portal:task-123'],
    // Fewer than two segments: the whole thread id.
    ['athena', 'task-123', 'relay:athena:task-123'],
    ['athena', 'a:b', 'relay:athena:a:b'],
    // More than three segments: still only the first two.
    ['athena', 'a:b:c:d', 'relay:athena:a:b'],
    ['klyve', 'flow:run-9:step-2:retry-1', 'relay:klyve:flow:run-9'],
    // Slashes are not separators.
    ['athena', 'portal/tasks/123', 'relay:athena:portal/tasks/123'],
    ['athena', 'portal/x:task/1:comment/2', 'relay:athena:portal/x:task/1'],
    ['athena', 'academy:course/7/lesson/3:q-1', 'relay:athena:academy:course/7/lesson/3'],
    // Other allowed characters pass through untouched.
    ['athena', 'p@x#y._-:t.1:c', 'relay:athena:p@x#y._-:t.1'],
    // Empty segments still count as segments.
    ['athena', 'a::b', 'relay:athena:a:'],
  ])('(%j, %j) → %j', (agent, thread, expected) => {
    expect(sessionKey(agent, thread)).toBe(expected);
  });

  test('threads that share their first two segments share a session', () => {
    expect(sessionKey('athena', 'portal:task-1:comment-1')).toBe(
      sessionKey('athena', 'portal:task-1:comment-2'),
    );
    expect(sessionKey('athena', 'portal:task-1:c')).not.toBe(sessionKey('athena', 'portal:task-2:c'));
  });

  test('the same thread to different agents is a different session', () => {
    expect(sessionKey('athena', 'portal:task-1')).not.toBe(sessionKey('klyve', 'portal:task-1'));
  });
});
