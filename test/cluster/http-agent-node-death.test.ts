import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores } from '../support/cluster';
import { answers, startHttpAgentServer, webhookSecret, type HttpAgentServer } from '../support/http-agent-server';
import { finalsFor, recordFrames, send, sleep, waitFor } from '../support/lifecycle';

// `kill -9` of the node that holds an HTTP agent's connection while its request is open: once
// the node is found dead, its events are handed back (attempt 2) as for a dropped socket,
// another node takes the agent's HTTP connection, and POSTs the event again. One final.

const NODE_TTL_MS = 1_500;
const NOTICED_MS = NODE_TTL_MS + 8_000;
const ATTACHED = /"agent_id":"athena"[^\n]*"msg":"HTTP agent connection attached"/;

const secret = webhookSecret();
let agent: HttpAgentServer;
beforeAll(async () => {
  agent = await startHttpAgentServer(secret);
});
afterAll(() => agent.close());

describeOnStores('kill -9 of the node holding an HTTP agent', (store) => {
  const c = clusterPerTest({
    store,
    env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS), RELAY_AGENT_WEBHOOK_BACKOFF_MS: '100' },
    // read when each test's cluster starts, after the agent's server listens
    registry: {
      get agents() {
        return { athena: { webhook_url: agent.url, webhook_secret: secret } };
      },
    },
  });

  test("the event whose request was open on a killed node is POSTed again, attempt 2, from another node", async () => {
    const { cluster } = c;
    await waitFor('a node holding athena over HTTP', () => cluster.nodes.some((n) => ATTACHED.test(n.output())), 10_000);
    const holder = cluster.nodes.findIndex((n) => ATTACHED.test(n.output())) + 1;
    const other = holder === 1 ? 2 : 1;
    const app = await cluster.connect(other, 'portal');
    const seen = recordFrames(app);

    let calls = 0;
    agent.answer((call, res) => {
      calls += 1;
      if (call.frame.attempt === 1) {
        // the first attempt streams a token, then the agent keeps working: the request stays open
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(`${JSON.stringify({ type: 'token', token: 'thinking' })}\n`);
        return;
      }
      answers.json('survived')(call, res);
    });
    const id = (await send(app, eventFrame({ thread_id: 'portal:http-death:1' }))).event_id as string;
    expect(await app.nextOf('token', id)).toMatchObject({ token: 'thinking', attempt: 1 });

    expect(await cluster.node(holder).stop('SIGKILL')).toBe('SIGKILL');
    expect(await app.nextOf('reply', id, NOTICED_MS)).toMatchObject({ content: 'survived' });
    const attempts = agent.calls.filter((k) => k.frame.event_id === id).map((k) => k.frame.attempt);
    expect(attempts).toEqual([1, 2]);
    expect(calls).toBe(2);
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
  }, 40_000);
});
