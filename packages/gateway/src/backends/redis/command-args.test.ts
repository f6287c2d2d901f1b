import type Command from 'ioredis/built/Command';
import { flattenArgs, ioredisBuildsAsExpected, QuickCommand } from './command-args';

// QuickCommand stands in for ioredis' own command class: every command it builds must carry
// exactly the arguments ioredis' would, and it must not pay for `Array.prototype.flat` on
// arguments that hold no array (the cost it exists to save).

const IoredisCommand = Object.getPrototypeOf(QuickCommand) as typeof Command;

/** What a command would send: its arguments, and whether any is a Buffer. */
function built(Class: typeof Command, name: string, args: unknown[], options: { keyPrefix?: string } = {}) {
  const command = new Class(name, args as ConstructorParameters<typeof Command>[1], options) as unknown as { args: unknown[]; bufferMode?: boolean };
  return { args: command.args, bufferMode: command.bufferMode ?? false };
}

const corpus: [string, unknown[]][] = [
  ['get', ['relay:{agent:a}:entries']],
  ['hset', ['relay:event:evt_1', 'id', 'evt_1', 'acceptedAt', 1_733_000_000_000, 'queued', '0']],
  ['hset', ['relay:event:evt_2', { id: 'evt_2', attempt: 3 }]],
  ['hset', ['relay:event:evt_3', new Map<string, unknown>([['id', 'evt_3'], ['n', 7]])]],
  ['mset', [{ a: '1', b: 2 }]],
  ['evalsha', ['0123456789abcdef0123456789abcdef01234567', 2, 'k1', 'k2', 5, 'text', 1.5]],
  ['zrem', ['relay:finals-pending', ['evt_1', 'evt_2'], 'evt_3']],
  ['rpush', ['relay:timeline:evt_1', ['{"kind":"accepted"}', ['nested', 'once']]]],
  ['set', [Buffer.from('key'), Buffer.from([0, 1, 2]), 'PX', 100]],
  ['hset', ['k', 'f', null, 'g', undefined, 'h', true]],
  ['ping', []],
];

test('the installed ioredis builds commands as QuickCommand expects, and QuickCommand is what it uses', () => {
  expect(ioredisBuildsAsExpected()).toBe(true);
  expect((require('ioredis/built/Command') as { default: unknown }).default).toBe(QuickCommand);
});

test.each(corpus)('%s %p: the same arguments as ioredis builds', (name, args) => {
  expect(built(QuickCommand, name, args)).toEqual(built(IoredisCommand, name, args));
});

test('a command under a key prefix is built by ioredis itself, prefix and all', () => {
  const quick = built(QuickCommand, 'hset', ['k', 'f', 'v'], { keyPrefix: 'p:' });
  expect(quick).toEqual(built(IoredisCommand, 'hset', ['k', 'f', 'v'], { keyPrefix: 'p:' }));
  expect(quick.args[0]).toBe('p:k');
});

test('arguments without an array are copied, not flattened; with one, flattened one level as before', () => {
  const flat = jest.spyOn(Array.prototype, 'flat');
  try {
    const args = ['k', 'f', 'v'];
    const command = new QuickCommand('hset', args) as unknown as { args: unknown[] };
    expect(command.args).toEqual(args);
    expect(command.args).not.toBe(args); // a copy: ioredis rewrites its own array in place
    expect(flat.mock.contexts).not.toContain(args);

    const nested = ['k', ['a', ['b']]];
    expect(flattenArgs(nested)).toEqual(['k', 'a', ['b']]);
    expect(flat.mock.contexts).toContain(nested);
  } finally {
    flat.mockRestore();
  }
});
