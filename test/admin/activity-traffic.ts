import { ADMIN_TOKEN } from '../support/admin';
import { TestClient, eventFrame, type Frame } from '../support/client';
import { send } from '../support/lifecycle';
import type { RelayProcess } from '../support/relay-process';
import type { Tokens } from '../support/registry';

// Real traffic for the activity suites: four events that end four ways. Athena answers the first
// with three tokens, holds the second until AGENT_TIMEOUT; the third waits for klyve (offline)
// until EVENT_EXPIRED; the fourth is still waiting for klyve at the end.

export const PAYLOAD_MARKER = 'do-not-show-this-payload';
/** Agent timeouts come quickly, so a test sees one. */
export const ACTIVITY_ENV = { RELAY_ADMIN_TOKEN: ADMIN_TOKEN, RELAY_REGISTRY_MODE: 'admin', RELAY_REPLY_TIMEOUT_MS: '1500' };

export interface Traffic {
  answered: string;
  timedOut: string;
  expired: string;
  waiting: string;
  /** The agent's and the apps' sockets, still open, for more traffic. */
  athena: TestClient;
  portal: TestClient;
}

/** Drives the four events: the agent on `agentNode`, the apps on `appNode`. */
export async function drive(appNode: RelayProcess, agentNode: RelayProcess, tokens: Tokens, clients: TestClient[]): Promise<Traffic> {
  const connect = async (node: RelayProcess, role: 'app' | 'agent', token: string) => {
    const client = await TestClient.connect(node.url, role, token);
    clients.push(client);
    return client;
  };
  const athena = await connect(agentNode, 'agent', tokens.athena);
  const portal = await connect(appNode, 'app', tokens.portal);
  const flow = await connect(appNode, 'app', tokens.flow);
  const accepted = async (app: TestClient, frame: Frame) => {
    const answer = await send(app, eventFrame(frame));
    expect(answer.type).toBe('accepted');
    return answer.event_id as string;
  };

  const answered = await accepted(portal, { thread_id: 'portal:t:1', payload: { secret: PAYLOAD_MARKER } });
  await athena.nextOf('event', answered);
  for (const token of ['a', 'b', 'c']) athena.send({ type: 'token', event_id: answered, token });
  athena.send({ type: 'reply', event_id: answered, content: 'abc', finish_reason: 'stop' });
  await portal.nextOf('reply', answered);

  const timedOut = await accepted(flow, { thread_id: 'flow:t:2' });
  await athena.nextOf('event', timedOut);
  expect(await flow.nextOf('error', timedOut, 10_000)).toMatchObject({ code: 'AGENT_TIMEOUT' });

  const expired = await accepted(portal, { agent_id: 'klyve', thread_id: 'portal:t:3', ttl_ms: 300 });
  expect(await portal.nextOf('error', expired, 10_000)).toMatchObject({ code: 'EVENT_EXPIRED' });

  const waiting = await accepted(portal, { agent_id: 'klyve', thread_id: 'portal:t:4' });
  return { answered, timedOut, expired, waiting, athena, portal };
}

