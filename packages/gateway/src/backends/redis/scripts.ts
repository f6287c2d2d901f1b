import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisClient } from './connect';
import { luaCodeTable } from './script-codes';

const LUA_DIR = path.join(__dirname, 'lua');

/**
 * Scripts by file name; the number after the dash is how many KEYS each takes (N: as many as
 * the caller gives, all under one hash tag). `dispatch`
 * scripts are the delivery queue's: they get include-dispatch.lua, which names their KEYS.
 */
const SCRIPTS = {
  enqueue: { file: 'enqueue-15.lua', dispatch: true },
  acceptEvent: { file: 'acceptEvent-N.lua', dispatch: true },
  attach: { file: 'attach-15.lua', dispatch: true },
  detach: { file: 'detach-15.lua', dispatch: true },
  remove: { file: 'remove-15.lua', dispatch: true },
  retryLater: { file: 'retryLater-15.lua', dispatch: true },
  pump: { file: 'pump-15.lua', dispatch: true },
  holder: { file: 'holder-15.lua', dispatch: true },
  queuedEvents: { file: 'queuedEvents-15.lua', dispatch: true },
  claimKey: { file: 'claimKey-1.lua', dispatch: false },
  updateEvent: { file: 'updateEvent-1.lua', dispatch: false },
  finishEvent: { file: 'finishEvent-1.lua', dispatch: false },
  overdueFinals: { file: 'overdueFinals-1.lua', dispatch: false },
  claimExpiries: { file: 'claimExpiries-1.lua', dispatch: false },
  putOutbox: { file: 'putOutbox-1.lua', dispatch: false },
  takeOutbox: { file: 'takeOutbox-1.lua', dispatch: false },
  admitEvent: { file: 'admitEvent-1.lua', dispatch: false },
  authenticate: { file: 'authenticate-2.lua', dispatch: false },
  casField: { file: 'casField-1.lua', dispatch: false },
  addToken: { file: 'addToken-2.lua', dispatch: false },
  deletePrincipal: { file: 'deletePrincipal-3.lua', dispatch: false },
  seedRegistry: { file: 'seedRegistry-5.lua', dispatch: false },
  addConnection: { file: 'addConnection-3.lua', dispatch: false },
  putActivity: { file: 'putActivity-N.lua', dispatch: false },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type RunScript = (name: ScriptName, keys: string[], args: (string | number)[]) => Promise<unknown>;

interface ScriptSource {
  name: ScriptName;
  /** Undefined: as many as each call gives. */
  numberOfKeys: number | undefined;
  /** The full Lua text: the `Code` table, then the shared include for dispatch scripts. */
  lua: string;
  /** Its SHA1, what EVALSHA sends. */
  sha: string;
}

let sources: ScriptSource[] | undefined;

/** Every script, read from disk once per process. */
function scriptSources(): ScriptSource[] {
  sources ??= (() => {
    const include = readFileSync(path.join(LUA_DIR, 'include-dispatch.lua'), 'utf8');
    return Object.entries(SCRIPTS).map(([name, spec]) => {
      const body = readFileSync(path.join(LUA_DIR, spec.file), 'utf8');
      const keyCount = /-(\d+|N)\.lua$/.exec(spec.file)?.[1];
      const numberOfKeys = keyCount === 'N' ? undefined : Number(keyCount);
      const lua = `${luaCodeTable()}${spec.dispatch ? `${include}\n` : ''}${body}`;
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
