import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisClient } from './connect';
import { luaCodeTable } from './script-codes';

const LUA_DIR = path.join(__dirname, 'lua');

/**
 * The Lua shared by several scripts, prepended to each that names it, in the order named:
 * `dispatch` (include-dispatch.lua) is the delivery queue's and names its KEYS; `rate`
 * (include-rate.lua) counts an event against its app's rate; `finish` (include-finish.lua)
 * finishes an event.
 */
type Include = 'dispatch' | 'rate' | 'finish';

/**
 * Scripts by file name; the number after the dash is how many KEYS each takes (N: as many as
 * the caller gives, all under one hash tag where the store is a cluster), and the includes each gets.
 */
const SCRIPTS = {
  enqueue: { file: 'enqueue-15.lua', includes: ['dispatch'] },
  acceptEvent: { file: 'acceptEvent-N.lua', includes: ['rate', 'dispatch'] },
  attach: { file: 'attach-15.lua', includes: ['dispatch'] },
  detach: { file: 'detach-15.lua', includes: ['dispatch'] },
  remove: { file: 'remove-15.lua', includes: ['dispatch'] },
  retryLater: { file: 'retryLater-15.lua', includes: ['dispatch'] },
  pump: { file: 'pump-15.lua', includes: ['dispatch'] },
  holder: { file: 'holder-15.lua', includes: ['dispatch'] },
  attempts: { file: 'attempts-15.lua', includes: ['dispatch'] },
  queuedEvents: { file: 'queuedEvents-15.lua', includes: ['dispatch'] },
  claimKey: { file: 'claimKey-1.lua', includes: [] },
  updateEvent: { file: 'updateEvent-1.lua', includes: [] },
  finishEvent: { file: 'finishEvent-N.lua', includes: ['finish'] },
  finishAndRemove: { file: 'finishAndRemove-19.lua', includes: ['finish', 'dispatch'] },
  overdueFinals: { file: 'overdueFinals-1.lua', includes: [] },
  claimExpiries: { file: 'claimExpiries-1.lua', includes: [] },
  putOutbox: { file: 'putOutbox-1.lua', includes: [] },
  takeOutbox: { file: 'takeOutbox-1.lua', includes: [] },
  admitEvent: { file: 'admitEvent-1.lua', includes: ['rate'] },
  authenticate: { file: 'authenticate-2.lua', includes: [] },
  casField: { file: 'casField-1.lua', includes: [] },
  addToken: { file: 'addToken-2.lua', includes: [] },
  deletePrincipal: { file: 'deletePrincipal-3.lua', includes: [] },
  seedRegistry: { file: 'seedRegistry-5.lua', includes: [] },
  addConnection: { file: 'addConnection-3.lua', includes: [] },
  putActivity: { file: 'putActivity-N.lua', includes: [] },
} as const satisfies Record<string, { file: string; includes: readonly Include[] }>;

export type ScriptName = keyof typeof SCRIPTS;
export type RunScript = (name: ScriptName, keys: string[], args: (string | number)[]) => Promise<unknown>;

interface ScriptSource {
  name: ScriptName;
  /** Undefined: as many as each call gives. */
  numberOfKeys: number | undefined;
  /** The full Lua text: the `Code` table, then the script's includes, then its own. */
  lua: string;
  /** Its SHA1, what EVALSHA sends. */
  sha: string;
}

let sources: ScriptSource[] | undefined;

/** Every script, read from disk once per process. */
function scriptSources(): ScriptSource[] {
  sources ??= (() => {
    const includes = new Map<Include, string>();
    const include = (name: Include) => {
      if (!includes.has(name)) includes.set(name, readFileSync(path.join(LUA_DIR, `include-${name}.lua`), 'utf8'));
      return `${includes.get(name)}\n`;
    };
    return Object.entries(SCRIPTS).map(([name, spec]) => {
      const body = readFileSync(path.join(LUA_DIR, spec.file), 'utf8');
      const keyCount = /-(\d+|N)\.lua$/.exec(spec.file)?.[1];
      const numberOfKeys = keyCount === 'N' ? undefined : Number(keyCount);
      const lua = `${luaCodeTable()}${spec.includes.map(include).join('')}${body}`;
      return { name: name as ScriptName, numberOfKeys, lua, sha: createHash('sha1').update(lua).digest('hex') };
    });
  })();
  return sources;
}

/**
 * A runner of the Lua scripts on the client: EVALSHA, and EVAL (which also caches the script)
 * when the server does not know it yet (a new or restarted primary, a promoted replica). Each
 * operation is one script, so it is atomic in Redis. A script sent again by EVAL runs after
 * commands sent after its EVALSHA: a caller that needs a later command to run after a script
 * awaits the script first (as every caller here does).
 *
 * Not ioredis' `defineCommand`: every pipeline ioredis makes copies each defined command onto
 * itself, some 50 properties.
 */
export function scriptRunner(client: RedisClient): RunScript {
  const byName = new Map(scriptSources().map((source) => [source.name, source]));
  return async (name, keys, args) => {
    const { sha, lua, numberOfKeys = keys.length } = byName.get(name) as ScriptSource;
    try {
      return await client.evalsha(sha, numberOfKeys, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(lua, numberOfKeys, ...keys, ...args);
    }
  };
}

/**
 * Script names by the first argument of the command that runs them: the SHA1 that EVALSHA sends,
 * or the text that EVAL sends when the server lacked the script. Names scripts in metrics.
 */
export function scriptNamesByFirstArg(): Map<string, string> {
  return new Map(scriptSources().flatMap(({ name, sha, lua }) => [[sha, name], [lua, name]]));
}
