import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { TestClient, UpgradeRefused } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// The admin API on one node with no Redis (the memory backend, as `npm start` runs without
// REDIS_URL): issuing and revoking a token work the same as on a cluster.

let relay: RelayProcess;
const { registry, tokens } = testRegistry();
const clients: TestClient[] = [];

beforeAll(async () => {
  relay = await startRelay({ registry, env: { RELAY_ADMIN_TOKEN: ADMIN_TOKEN, RELAY_REGISTRY_MODE: 'admin' } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  expect(clients.flatMap((c) => c.invalid)).toEqual([]);
  expect(await relay.stop()).toBe(0);
});

const connect = async (role: 'app' | 'agent', token: string) => {
  const client = await TestClient.connect(relay.url, role, token);
  clients.push(client);
  return client;
};
const refusal = (role: 'app' | 'agent', token: string) =>
  connect(role, token).then(
    () => 0,
    (err: unknown) => (err instanceof UpgradeRefused ? err.status : -1),
  );

test("an issued token opens sockets; revoked, its sockets close with 1008 and it is refused; the agent's other token is untouched", async () => {
  const api = adminApi(relay.httpUrl);
  const issued = await api('POST', '/v1/admin/agents/athena/tokens');
  expect(issued.status).toBe(201);
  const sockets = [await connect('agent', issued.body.token), await connect('agent', issued.body.token)];
  const other = await connect('agent', tokens.athena);

  expect(await api('DELETE', `/v1/admin/agents/athena/tokens/${issued.body.id}`)).toMatchObject({ status: 200, body: { revoked: true } });
  for (const close of await Promise.all(sockets.map((s) => s.closed))) expect(close.code).toBe(1008);
  expect(await refusal('agent', issued.body.token)).toBe(401);
  other.send({ type: 'ping', ref: 'still' });
  expect(await other.nextOf('pong')).toMatchObject({ ref: 'still' });
});
