import type { Bus, BusMessage } from '../../packages/gateway/src/ports';

export interface BusUnderTest {
  /** This node's bus. */
  bus: Bus;
  /** Another node's bus on the same backend, for a backend that several nodes share. */
  peer?: () => Bus;
  teardown(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `check` holds (polling), or fails the test after a few seconds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const token = (i: number): BusMessage => ({ kind: 'app-token', connId: 'n2.1', eventId: 'evt_1', text: `{"type":"token","seq":${i}}`, attempt: 1, seq: i });

/**
 * Bus (ports/bus.ts): what is published to a node reaches the handler that node subscribed, in
 * the order it was published; what reaches no node goes to the sender's undelivered handler.
 */
export function busContract(name: string, create: () => Promise<BusUnderTest>) {
  describe(`Bus contract (${name})`, () => {
    let under: BusUnderTest;
    beforeEach(async () => {
      under = await create();
    });
    afterEach(async () => under.teardown());

    test('messages to a node arrive whole, in the order published, and only there', async () => {
      const here: BusMessage[] = [];
      const there: BusMessage[] = [];
      const other = under.peer ? under.peer() : under.bus;
      await under.bus.subscribe('n1', (m) => here.push(m));
      await other.subscribe('n2', (m) => there.push(m));

      const deliver: BusMessage = {
        kind: 'app-final', connId: 'n2.1', appId: 'portal', eventId: 'evt_1', text: '{"type":"reply","content":"ünïcode ✓"}', avoid: ['n9'],
      };
      const sent = [...Array.from({ length: 200 }, (_, i) => token(i)), deliver];
      // interleaved with messages to this node, and spread over several event-loop turns
      for (const [i, m] of sent.entries()) {
        under.bus.publish('n2', m);
        if (i % 50 === 0) {
          under.bus.publish('n1', { kind: 'probe', sentAt: i });
          await sleep(1);
        }
      }
      await until(() => there.length === sent.length, 'every message');
      expect(there).toEqual(sent);
      await until(() => here.length === 5, 'the probes');
      expect(here).toEqual([0, 50, 100, 150, 200].map((sentAt) => ({ kind: 'probe', sentAt })));
    });

    test("a message to a node nobody subscribed goes to the sender's undelivered handler", async () => {
      const undelivered: [string, BusMessage][] = [];
      const received: BusMessage[] = [];
      under.bus.onUndelivered((nodeId, m) => undelivered.push([nodeId, m]));
      await under.bus.subscribe('n1', (m) => received.push(m));
      const lost: BusMessage = { kind: 'agent-cancel', connId: 'gone.1', eventId: 'evt_2' };
      under.bus.publish('gone', lost);
      under.bus.publish('n1', { kind: 'probe', sentAt: 1 });
      await until(() => undelivered.length === 1 && received.length === 1, 'the undelivered message and the probe');
      expect(undelivered).toEqual([['gone', lost]]);
      expect(received).toEqual([{ kind: 'probe', sentAt: 1 }]);
    });

    test('after resubscribing, the node receives again', async () => {
      const received: BusMessage[] = [];
      await under.bus.subscribe('n1', (m) => received.push(m));
      under.bus.onUndelivered(() => {});
      await under.bus.resubscribe();
      // A probe sent while the subscription is being made again may be lost: send until one comes back.
      for (let i = 0; received.length === 0; i++) {
        if (i > 500) throw new Error('no probe came back after resubscribing');
        under.bus.publish('n1', { kind: 'probe', sentAt: i });
        await sleep(10);
      }
      // Probes of the loop still on their way may land after this one is sent: look for it by name.
      under.bus.publish('n1', { kind: 'probe', sentAt: -1 });
      await until(() => received.some((m) => m.kind === 'probe' && m.sentAt === -1), 'a probe after the subscription was made again');
      expect(received.filter((m) => m.kind === 'probe' && m.sentAt === -1)).toHaveLength(1);
    });
  });
}
