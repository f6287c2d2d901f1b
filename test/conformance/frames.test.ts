import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import { sleep } from '../support/lifecycle';
import { captureRaw, payloadTextIn, rawContaining } from '../support/wire-probe';

const MAX_PAYLOAD = 64_000;

/** A JSON string literal whose UTF-8 text is exactly `bytes` bytes long (quotes included). */
const stringPayload = (bytes: number) => `"${'a'.repeat(bytes - 2)}"`;

/** An event frame written as text, so the payload is exactly the given JSON text. */
const rawEvent = (payload: string, ref: string, agentId = 'athena', threadId = 'frames:raw:1') =>
  `{"type":"event","agent_id":"${agentId}","thread_id":"${threadId}","payload":${payload},"ref":"${ref}"}`;

describe.each(backendsUnderTest())('inbound frames and their errors ($name backend)', (backend) => {
  const r = useRelay(backend);
  let pings = 0;

  /** The next error frame: it has the code, and `message` and `error` carry the same text. */
  const expectError = async (client: TestClient, code: string, extra: Frame = {}): Promise<Frame> => {
    const error = await client.nextOf('error');
    expect(error).toMatchObject({ code, ...extra });
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    expect(error.error).toBe(error.message);
    return error;
  };
  /** The socket is still open and answering: a JSON ping gets its pong. */
  const expectUsable = async (client: TestClient) => {
    const ref = `alive-${++pings}`;
    client.send({ type: 'ping', ref });
    expect(await client.next((f) => f.type === 'pong' && f.ref === ref)).toEqual({ type: 'pong', ref });
    expect(client.invalid).toEqual([]);
  };
  /** Sends an event and returns the `accepted` answering it (matched by ref). */
  const accept = async (app: TestClient, frame: Frame | string, ref: string): Promise<Frame> => {
    app.send(frame);
    return app.next((f) => f.ref === ref);
  };
  const reply = (agent: TestClient, eventId: string, extra: Frame = {}) =>
    agent.send({ type: 'reply', event_id: eventId, content: 'ok', finish_reason: 'stop', ...extra });

  describe('INVALID_JSON', () => {
    test.each([['app' as const], ['agent' as const]])('garbage text from an %s', async (role) => {
      const client = await r.connect(role === 'app' ? 'portal' : 'athena');
      for (const garbage of ['hello', '{not json', '{"type":"ping"', '', '{"type":"ping"}}', "{'type':'ping'}"]) {
        client.send(garbage);
        await expectError(client, 'INVALID_JSON');
      }
      await expectUsable(client);
    });

    test('a binary frame that is not UTF-8', async () => {
      const app = await r.connect('portal');
      app.ws.send(Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x7b]), { binary: true });
      await expectError(app, 'INVALID_JSON');
      // invalid UTF-8 inside otherwise JSON-looking bytes is not JSON either
      app.ws.send(Buffer.concat([Buffer.from('{"type":"ping","ref":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), {
        binary: true,
      });
      await expectError(app, 'INVALID_JSON');
      await expectUsable(app);
    });
  });

  describe('INVALID_MESSAGE names the bad field in details', () => {
    const cases: [string, string, string][] = [
      ['missing payload', JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 't:1', ref: 'm1' }), 'payload'],
      ['bad agent_id', JSON.stringify({ ...eventFrame(), agent_id: 'Athena!', ref: 'm1' }), 'agent_id'],
      ['agent_id not a string', JSON.stringify({ ...eventFrame(), agent_id: 7, ref: 'm1' }), 'agent_id'],
      ['missing agent_id', JSON.stringify({ type: 'event', thread_id: 't:1', payload: {}, ref: 'm1' }), 'agent_id'],
      ['bad thread_id (space)', JSON.stringify({ ...eventFrame(), thread_id: 'has space', ref: 'm1' }), 'thread_id'],
      ['empty thread_id', JSON.stringify({ ...eventFrame(), thread_id: '', ref: 'm1' }), 'thread_id'],
      ['thread_id of 257 chars', JSON.stringify({ ...eventFrame(), thread_id: 'x'.repeat(257), ref: 'm1' }), 'thread_id'],
      ['ttl_ms not a positive integer', JSON.stringify({ ...eventFrame(), ttl_ms: -5, ref: 'm1' }), 'ttl_ms'],
      ['cancel with a malformed event_id', JSON.stringify({ type: 'cancel', event_id: 'nope', ref: 'm1' }), 'event_id'],
      ['missing type', JSON.stringify({ agent_id: 'athena', thread_id: 't:1', payload: {}, ref: 'm1' }), 'type'],
      ['type not a string', JSON.stringify({ type: 5, ref: 'm1' }), 'type'],
    ];
    test.each(cases)('%s', async (_name, text, field) => {
      const app = await r.connect('portal');
      app.send(text);
      const error = await expectError(app, 'INVALID_MESSAGE', { ref: 'm1' });
      expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
      await expectUsable(app);
    });

    test.each([['[1,2,3]'], ['[{"type":"ping"}]'], ['"ping"'], ['42'], ['null'], ['true']])(
      'a frame that is JSON but not an object: %s',
      async (text) => {
        const app = await r.connect('portal');
        app.send(text);
        const error = await expectError(app, 'INVALID_MESSAGE');
        expect(error.details).toEqual([expect.objectContaining({ path: '', message: expect.any(String) })]);
        await expectUsable(app);
      },
    );

    test('agent frames: reply with content null but not an error, token without text', async () => {
      const agent = await r.connect('athena');
      agent.send({ type: 'reply', event_id: 'evt_0000000001', content: null, finish_reason: 'stop', ref: 'a1' });
      const bad = await expectError(agent, 'INVALID_MESSAGE', { ref: 'a1', event_id: 'evt_0000000001' });
      expect(bad.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'content' })]));
      agent.send({ type: 'token', event_id: 'evt_0000000001', ref: 'a2' });
      const noText = await expectError(agent, 'INVALID_MESSAGE', { ref: 'a2' });
      expect(noText.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'token' })]));
      agent.send({ type: 'reply', event_id: 'evt_0000000001', content: 'x', finish_reason: 'done', ref: 'a3' });
      const reason = await expectError(agent, 'INVALID_MESSAGE', { ref: 'a3' });
      expect(reason.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'finish_reason' })]));
      await expectUsable(agent);
    });
  });

  describe('UNKNOWN_TYPE', () => {
    test('an unknown type, and names that exist on Object.prototype', async () => {
      const app = await r.connect('portal');
      for (const type of ['hello', 'EVENT', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) {
        app.send({ type, ref: `u-${type}` });
        await expectError(app, 'UNKNOWN_TYPE', { ref: `u-${type}` });
      }
      await expectUsable(app);
    });

    test('an app sending agent frames (token, reply) and relay frames (accepted)', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ ref: 'ut' }), 'ut');
      const event = await agent.nextOf('event', accepted.event_id);
      // even for the app's own, live event id
      app.send({ type: 'token', event_id: event.event_id, token: 'x', ref: 'u1' });
      await expectError(app, 'UNKNOWN_TYPE', { ref: 'u1' });
      app.send({ type: 'reply', event_id: event.event_id, content: 'forged', finish_reason: 'stop', ref: 'u2' });
      await expectError(app, 'UNKNOWN_TYPE', { ref: 'u2' });
      app.send({ type: 'accepted', ref: 'u3' });
      await expectError(app, 'UNKNOWN_TYPE', { ref: 'u3' });
      await expectUsable(app);
      // nothing of that reached the app as a token or reply, and the agent's answer still counts
      reply(agent, event.event_id, { content: 'real' });
      expect(await app.nextOf('reply', event.event_id)).toMatchObject({ content: 'real' });
      expect(await app.quiet(50)).toEqual([]);
    });

    test('an agent sending app frames (event, discover, cancel)', async () => {
      const agent = await r.connect('athena');
      agent.send({ ...eventFrame(), ref: 'v1' });
      await expectError(agent, 'UNKNOWN_TYPE', { ref: 'v1' });
      agent.send({ type: 'discover', ref: 'v2' });
      await expectError(agent, 'UNKNOWN_TYPE', { ref: 'v2' });
      agent.send({ type: 'cancel', event_id: 'evt_0000000001', ref: 'v3' });
      await expectError(agent, 'UNKNOWN_TYPE', { ref: 'v3' });
      await expectUsable(agent);
      expect(await agent.quiet(50)).toEqual([]);
    });
  });

  describe('PAYLOAD_TOO_LARGE', () => {
    test('a payload of exactly 64,000 bytes is accepted and reaches the agent byte for byte', async () => {
      const agent = await r.connect('athena');
      const raws = captureRaw(agent);
      const app = await r.connect('portal');
      const payload = stringPayload(MAX_PAYLOAD);
      expect(Buffer.byteLength(payload, 'utf8')).toBe(MAX_PAYLOAD);
      const accepted = await accept(app, rawEvent(payload, 'big'), 'big');
      expect(accepted).toMatchObject({ type: 'accepted', ref: 'big', queued: false });
      const event = await agent.nextOf('event', accepted.event_id);
      const raw = await rawContaining(raws, accepted.event_id);
      expect(payloadTextIn(raw, payload)).toBe(payload);
      reply(agent, event.event_id);
      const final = await app.nextOf('reply', event.event_id);
      expect(final.payload).toBe(JSON.parse(payload));
    });

    test('64,001 bytes is refused, with the ref, and never reaches the agent', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      app.send(rawEvent(stringPayload(MAX_PAYLOAD + 1), 'too-big'));
      const error = await expectError(app, 'PAYLOAD_TOO_LARGE', { ref: 'too-big' });
      expect(error.event_id).toBeUndefined();
      await expectUsable(app);
      expect(await agent.quiet(100)).toEqual([]);
    });

    test('the limit counts UTF-8 bytes, not characters', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      // 16,000 emoji: 32,002 UTF-16 units, 64,002 UTF-8 bytes
      const emoji = `"${'😀'.repeat(16_000)}"`;
      expect(emoji.length).toBeLessThan(MAX_PAYLOAD);
      app.send(rawEvent(emoji, 'emoji'));
      await expectError(app, 'PAYLOAD_TOO_LARGE', { ref: 'emoji' });
      // 15,999 emoji and 2 ASCII letters: exactly 64,000 bytes, accepted
      const fits = `"${'😀'.repeat(15_999)}ab"`;
      expect(Buffer.byteLength(fits, 'utf8')).toBe(MAX_PAYLOAD);
      const accepted = await accept(app, rawEvent(fits, 'fits'), 'fits');
      expect(accepted.type).toBe('accepted');
      const event = await agent.nextOf('event', accepted.event_id);
      expect(event.payload).toBe(JSON.parse(fits));
      reply(agent, event.event_id);
      await app.nextOf('reply', event.event_id);
    });

    /** An app event frame of exactly `bytes` bytes (its payload is one long string). */
    const appFrameOf = (bytes: number, ref: string) => {
      const envelope = Buffer.byteLength(rawEvent('""', ref));
      const frame = rawEvent(stringPayload(bytes - envelope + 2), ref);
      expect(Buffer.byteLength(frame)).toBe(bytes);
      return frame;
    };

    test('an app frame of exactly 128 KiB is read (and its payload refused); one byte more closes with 1009', async () => {
      const app = await r.connect('portal');
      app.send(appFrameOf(128 * 1024, 'edge'));
      await expectError(app, 'PAYLOAD_TOO_LARGE', { ref: 'edge' });
      await expectUsable(app);
      app.send(appFrameOf(128 * 1024 + 1, 'over'));
      expect((await app.closed).code).toBe(1009);
      expect(await app.quiet(0)).toEqual([]); // no error frame, no accepted
      // the node is fine
      await expectUsable(await r.connect('portal'));
    });

    test('a much larger app frame (300 KB) is closed with 1009 too', async () => {
      const app = await r.connect('portal');
      app.send(rawEvent(stringPayload(300_000), 'huge'));
      expect((await app.closed).code).toBe(1009);
    });

    test('an agent frame larger than the agent socket limit (1 MiB) is closed with 1009', async () => {
      const agent = await r.connect('athena');
      agent.send({ type: 'token', event_id: 'evt_0000000001', token: 'a'.repeat(1024 * 1024) });
      expect((await agent.closed).code).toBe(1009);
      await expectUsable(await r.connect('athena'));
    });

    test('a frame under the socket limit whose payload is too large gets an error, not a close', async () => {
      const app = await r.connect('portal');
      app.send(rawEvent(stringPayload(100_000), 'mid'));
      await expectError(app, 'PAYLOAD_TOO_LARGE', { ref: 'mid' });
      await expectUsable(app);
    });
  });

  describe('ref and ping', () => {
    test('ref is echoed on accepted, agents and on every kind of error', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ ref: 'ref-accepted' }), 'ref-accepted');
      expect(accepted).toMatchObject({ type: 'accepted', ref: 'ref-accepted' });
      app.send({ type: 'discover', ref: 'ref-discover' });
      expect(await app.nextOf('agents')).toMatchObject({ ref: 'ref-discover' });
      app.send(eventFrame({ agent_id: 'nobody', ref: 'ref-404' }));
      await expectError(app, 'AGENT_NOT_FOUND', { ref: 'ref-404' });
      app.send({ type: 'event', ref: 'ref-invalid' });
      await expectError(app, 'INVALID_MESSAGE', { ref: 'ref-invalid' });
      app.send({ type: 'nope', ref: 'ref-type' });
      await expectError(app, 'UNKNOWN_TYPE', { ref: 'ref-type' });
      app.send({ type: 'cancel', event_id: 'evt_000000000unknown', ref: 'ref-cancel' });
      await expectError(app, 'UNKNOWN_EVENT', { ref: 'ref-cancel', event_id: 'evt_000000000unknown' });
      // an agent's frames too
      const event = await agent.nextOf('event', accepted.event_id);
      agent.send({ type: 'token', event_id: 'evt_000000000unknown', token: 'x', ref: 'ref-agent' });
      await expectError(agent, 'UNKNOWN_EVENT', { ref: 'ref-agent', event_id: 'evt_000000000unknown' });
      reply(agent, event.event_id);
      await app.nextOf('reply', event.event_id);
      // without a ref, none is made up
      app.send(eventFrame({ agent_id: 'nobody' }));
      expect((await expectError(app, 'AGENT_NOT_FOUND')).ref).toBeUndefined();
      expect(app.invalid).toEqual([]);
    });

    test('JSON ping gets pong, with the ref echoed', async () => {
      for (const principal of ['portal', 'athena'] as const) {
        const client = await r.connect(principal);
        const raws = captureRaw(client);
        client.send({ type: 'ping' });
        expect(await client.nextOf('pong')).toEqual({ type: 'pong' });
        client.send({ type: 'ping', ref: 'p-1' });
        expect(await client.nextOf('pong')).toEqual({ type: 'pong', ref: 'p-1' });
        expect(raws).toEqual(['{"type":"pong"}', '{"type":"pong","ref":"p-1"}']);
        // a pong from the client needs no answer
        client.send({ type: 'pong' });
        expect(await client.quiet(50)).toEqual([]);
      }
    });
  });

  describe('routing errors', () => {
    test('AGENT_NOT_FOUND for an agent that does not exist', async () => {
      const app = await r.connect('portal');
      app.send(eventFrame({ agent_id: 'nobody', ref: 'nf' }));
      const error = await expectError(app, 'AGENT_NOT_FOUND', { ref: 'nf' });
      expect(error.event_id).toBeUndefined();
      await expectUsable(app);
    });

    test('ALLOWLIST_DENIED: academy → athena, flow → klyve; the agent gets nothing', async () => {
      const athena = await r.connect('athena');
      const klyve = await r.connect('klyve');
      const academy = await r.connect('academy');
      const flow = await r.connect('flow');
      academy.send(eventFrame({ thread_id: 'academy:1', ref: 'd1' }));
      const denied = await expectError(academy, 'ALLOWLIST_DENIED', { ref: 'd1' });
      expect(denied.event_id).toBeUndefined();
      flow.send(eventFrame({ agent_id: 'klyve', thread_id: 'flow:1', ref: 'd2' }));
      await expectError(flow, 'ALLOWLIST_DENIED', { ref: 'd2' });
      await expectUsable(academy);
      await expectUsable(flow);
      expect(await athena.quiet(100)).toEqual([]);
      expect(await klyve.quiet(0)).toEqual([]);
      // a denied app is told the same whether or not the agent is online
      await athena.close();
      academy.send(eventFrame({ thread_id: 'academy:1', ref: 'd3' }));
      await expectError(academy, 'ALLOWLIST_DENIED', { ref: 'd3', message: denied.message });
    });
  });

  describe('UNKNOWN_EVENT', () => {
    test('agent token/reply for an event id the relay never made', async () => {
      const agent = await r.connect('athena');
      agent.send({ type: 'token', event_id: 'evt_00000000000000nothere', token: 'x', ref: 'k1' });
      await expectError(agent, 'UNKNOWN_EVENT', { event_id: 'evt_00000000000000nothere', ref: 'k1' });
      agent.send({ type: 'reply', event_id: 'evt_00000000000000nothere', content: 'x', finish_reason: 'stop', ref: 'k2' });
      await expectError(agent, 'UNKNOWN_EVENT', { event_id: 'evt_00000000000000nothere', ref: 'k2' });
      await expectUsable(agent);
    });

    test('agent token/reply for an event delivered to another connection is refused and not forwarded', async () => {
      const holder = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ thread_id: 'portal:other-conn', ref: 'oc' }), 'oc');
      const event = await holder.nextOf('event', accepted.event_id);
      const other = await r.connect('athena');
      other.send({ type: 'token', event_id: event.event_id, token: 'stolen' });
      await expectError(other, 'UNKNOWN_EVENT', { event_id: event.event_id });
      other.send({ type: 'reply', event_id: event.event_id, content: 'stolen', finish_reason: 'stop' });
      await expectError(other, 'UNKNOWN_EVENT', { event_id: event.event_id });
      await expectUsable(other);
      expect(await app.quiet(100)).toEqual([]);
      // the event is still the holder's to answer
      holder.send({ type: 'token', event_id: event.event_id, token: 'mine' });
      reply(holder, event.event_id, { content: 'mine' });
      expect(await app.nextOf('token', event.event_id)).toMatchObject({ token: 'mine', seq: 0 });
      expect(await app.nextOf('reply', event.event_id)).toMatchObject({ content: 'mine', reply: 'mine' });
      expect(await app.quiet(50)).toEqual([]);
      expect(holder.invalid).toEqual([]);
    });

    test('agent token/reply for an event already answered is refused and not forwarded', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ ref: 'done' }), 'done');
      const event = await agent.nextOf('event', accepted.event_id);
      reply(agent, event.event_id, { content: 'first' });
      expect(await app.nextOf('reply', event.event_id)).toMatchObject({ content: 'first' });
      agent.send({ type: 'token', event_id: event.event_id, token: 'late' });
      await expectError(agent, 'UNKNOWN_EVENT', { event_id: event.event_id });
      reply(agent, event.event_id, { content: 'second' });
      await expectError(agent, 'UNKNOWN_EVENT', { event_id: event.event_id });
      await expectUsable(agent);
      expect(await app.quiet(100)).toEqual([]);
    });

    test("app cancel of an unknown id and of another app's event: the same UNKNOWN_EVENT, nothing leaks", async () => {
      const agent = await r.connect('athena');
      const portal = await r.connect('portal');
      const flow = await r.connect('flow');
      const flowEvent = await accept(flow, eventFrame({ thread_id: 'flow:secret', ref: 'fe' }), 'fe');
      const delivered = await agent.nextOf('event', flowEvent.event_id);

      portal.send({ type: 'cancel', event_id: 'evt_0000000000000unknown', ref: 'c1' });
      const unknown = await expectError(portal, 'UNKNOWN_EVENT', { ref: 'c1', event_id: 'evt_0000000000000unknown' });
      portal.send({ type: 'cancel', event_id: flowEvent.event_id, ref: 'c2' });
      const foreign = await expectError(portal, 'UNKNOWN_EVENT', { ref: 'c2', event_id: flowEvent.event_id });
      expect(foreign.message).toBe(unknown.message);
      expect(Object.keys(foreign).sort()).toEqual(Object.keys(unknown).sort());
      await expectUsable(portal);

      // flow's event was not touched: the agent was not told to cancel, and flow gets the reply
      expect(await agent.quiet(50)).toEqual([]);
      reply(agent, delivered.event_id, { content: 'for flow' });
      expect(await flow.nextOf('reply', flowEvent.event_id)).toMatchObject({ content: 'for flow' });
      expect(await flow.quiet(50)).toEqual([]);
      expect(await portal.quiet(0)).toEqual([]);
      expect(flow.invalid).toEqual([]);
    });
  });

  describe('payload opacity', () => {
    const kinds: [string, string][] = [
      ['object', '{"event":"comment.mention","task_id":"task-123"}'],
      ['empty object', '{}'],
      ['string', '"just a string"'],
      ['empty string', '""'],
      ['array', '[1,"two",{"three":3},[],null]'],
      ['number with its own spelling', '-1.50e+3'],
      ['zero point zero', '0.0'],
      ['true', 'true'],
      ['false', 'false'],
      ['null', 'null'],
      ['big integer', '12345678901234567890'],
      ['big integer inside an object', '{"id":12345678901234567890,"f":1.0}'],
      ['unicode and emoji', '{"text":"héllo wörld — 日本語 😀👍🏽"}'],
      ['escaped unicode', '"\\u00e9\\ud83d\\ude00\\n\\"q\\""'],
      ['whitespace inside', '{ "a" : [ 1 , 2 ] ,\n\t"b" :\r\n "x y" }'],
      ['strings with brackets and quotes', '{"s":"}{][\\",","t":["\\\\"],"u":"\\"payload\\":1"}'],
      ['a key named payload', '{"payload":{"payload":[]}}'],
    ];

    test.each(kinds)('%s: reaches the agent and comes back in the reply exactly as written', async (name, payload) => {
      const agent = await r.connect('athena');
      const agentRaws = captureRaw(agent);
      const app = await r.connect('portal');
      const appRaws = captureRaw(app);
      const ref = `opaque-${name.replace(/\W+/g, '-')}`;
      const accepted = await accept(app, rawEvent(payload, ref, 'athena', 'portal:opaque'), ref);
      expect(accepted.type).toBe('accepted');
      const event = await agent.nextOf('event', accepted.event_id);
      expect(payloadTextIn(await rawContaining(agentRaws, accepted.event_id), payload)).toBe(payload);
      expect(event.payload).toEqual(JSON.parse(payload));

      reply(agent, event.event_id, { content: 'done' }); // no payload echoed: the relay fills in the original
      const final = await app.nextOf('reply', event.event_id);
      expect(final.payload).toEqual(JSON.parse(payload));
      const rawReply = await rawContaining(appRaws, '"type":"reply"');
      expect(payloadTextIn(rawReply, payload)).toBe(payload);
      expect(agent.invalid).toEqual([]);
      expect(app.invalid).toEqual([]);
    });

    test('a repeated payload key: the payload is the value JSON.parse keeps (the last)', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const text = '{"type":"event","agent_id":"athena","thread_id":"portal:dup","payload":{"n":1},"payload":{"n":2},"ref":"dup"}';
      const accepted = await accept(app, text, 'dup');
      const event = await agent.nextOf('event', accepted.event_id);
      expect(event.payload).toEqual({ n: 2 });
      reply(agent, event.event_id);
      expect((await app.nextOf('reply', event.event_id)).payload).toEqual({ n: 2 });
    });

    test('a payload the agent echoes is the one the app gets, as the agent wrote it', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const appRaws = captureRaw(app);
      const accepted = await accept(app, eventFrame({ ref: 'echo' }), 'echo');
      const event = await agent.nextOf('event', accepted.event_id);
      const echoed = '{"echo":true,"big":12345678901234567890}';
      agent.send(
        `{"type":"reply","event_id":"${event.event_id}","content":"hi","finish_reason":"stop","payload":${echoed}}`,
      );
      const final = await app.nextOf('reply', event.event_id);
      expect(final.payload).toEqual(JSON.parse(echoed));
      expect(payloadTextIn(await rawContaining(appRaws, '"type":"reply"'), echoed)).toBe(echoed);
    });
  });

  describe('replies', () => {
    test('finish_reason error with content null reaches the app as content null, reply null and the error text', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ ref: 'fail' }), 'fail');
      const event = await agent.nextOf('event', accepted.event_id);
      agent.send({ type: 'reply', event_id: event.event_id, content: null, finish_reason: 'error', error: 'model crashed' });
      const final = await app.nextOf('reply', event.event_id);
      expect(final).toMatchObject({
        event_id: event.event_id,
        agent_id: 'athena',
        thread_id: 'portal:task-123:comment-456',
        content: null,
        reply: null,
        finish_reason: 'error',
        error: 'model crashed',
        payload: { event: 'comment.mention', task_id: 'task-123' },
      });
      expect(await app.quiet(50)).toEqual([]);
      expect(app.invalid).toEqual([]);
    });

    test('agent metadata passes through; tokens_used is the agent figure; latency_ms is added', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const accepted = await accept(app, eventFrame({ ref: 'meta' }), 'meta');
      const event = await agent.nextOf('event', accepted.event_id);
      agent.send({ type: 'token', event_id: event.event_id, token: 'a' });
      agent.send({ type: 'token', event_id: event.event_id, token: 'b' });
      reply(agent, event.event_id, {
        content: 'ab',
        finish_reason: 'length',
        metadata: { model: 'x', tokens_used: 7, nested: { k: [1, 2] } },
      });
      const final = await app.nextOf('reply', event.event_id);
      expect(final).toMatchObject({ content: 'ab', reply: 'ab', finish_reason: 'length' });
      expect(final.metadata).toMatchObject({ model: 'x', tokens_used: 7, nested: { k: [1, 2] } });
      expect(Number.isInteger(final.metadata.latency_ms)).toBe(true);
      expect(final.metadata.latency_ms).toBeGreaterThanOrEqual(0);
      expect(final.error).toBeUndefined();
      expect(app.invalid).toEqual([]);
    });

    test('latency_ms runs from the accept to the reply: an agent that thinks 300 ms makes it at least that', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const sent = Date.now();
      const accepted = await accept(app, eventFrame({ ref: 'slow' }), 'slow');
      const event = await agent.nextOf('event', accepted.event_id);
      await sleep(300);
      reply(agent, event.event_id, { content: 'thought about it', finish_reason: 'stop' });
      const final = await app.nextOf('reply', event.event_id);
      // at least the agent's pause, at most what the app saw from sending to the answer
      expect(final.metadata.latency_ms).toBeGreaterThanOrEqual(300);
      expect(final.metadata.latency_ms).toBeLessThanOrEqual(Date.now() - sent);
    });
  });
});
