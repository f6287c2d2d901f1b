/**
 * The session an event belongs to: `relay:<agent_id>:<scope>`, where scope is the first two
 * `:`-separated segments of the thread id, or the whole thread id when it has fewer.
 * Thread `portal:task-123:comment-456` to athena is session `relay:athena:portal:task-123`.
 */
export function sessionKey(agentId: string, threadId: string): string {
  const first = threadId.indexOf(':');
  const second = first < 0 ? -1 : threadId.indexOf(':', first + 1);
  const scope = second < 0 ? threadId : threadId.slice(0, second);
  return `relay:${agentId}:${scope}`;
}
