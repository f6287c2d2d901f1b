/**
 * The status codes Lua scripts answer with, in one place (as BullMQ's ErrorCode). scripts.ts
 * hands the same table to every script as `Code`, so Lua says `return Code.Taken`, never a
 * bare number; callers read answers through `codeOf`, never comparing numbers themselves.
 */
export enum ScriptCode {
  Ok = 1,
  /** Nothing to do, by the script's own rule (a registry kept). */
  Unchanged = 0,
  /** The record the script was to change does not exist. */
  Missing = -1,
  /** The value changed since the caller read it: read again. */
  Conflict = -2,
  /** A value that must be unique is already there. */
  Taken = -3,
}

/** A script answered a code its caller does not handle: a bug, or a script and caller out of step. */
export class ScriptCodeError extends Error {
  constructor(
    readonly script: string,
    readonly code: number,
  ) {
    super(`redis script ${script} answered ${ScriptCode[code] ?? 'unknown code'} (${code})`);
    this.name = 'ScriptCodeError';
  }
}

/** The script's answer as one of the codes the caller handles; any other is a ScriptCodeError. */
export function codeOf<C extends ScriptCode>(script: string, raw: unknown, handled: readonly C[]): C {
  const code = Number(raw);
  if ((handled as readonly number[]).includes(code)) return code as C;
  throw new ScriptCodeError(script, code);
}

/** The enum as a Lua table, prepended to every script. */
export function luaCodeTable(): string {
  const pairs = Object.entries(ScriptCode)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => `${name} = ${value}`);
  return `local Code = { ${pairs.join(', ')} }\n`;
}
