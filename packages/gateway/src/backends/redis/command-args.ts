import type Command from 'ioredis/built/Command';

/**
 * ioredis builds every command with `args.flat()`, which in Node 20's V8 costs about 2 µs for
 * 22 arguments (a copy by `slice` costs 60 ns): with an event's dozen commands, the largest
 * single cost on the node's event path (docs/benchmarks.md, sixteenth session). Commands are
 * built here as ioredis builds them, but their arguments are copied with `slice` unless one is
 * an array, which only then is flattened as before.
 *
 * A subclass put where ioredis looks its command class up (`Command_1.default`, read at each
 * command): its constructor lets ioredis' run on no arguments, then does for the real ones what
 * that constructor does after the flattening (the argument transformer, `stringifyArguments`).
 * Commands with a key prefix, which the constructor also rewrites, are built by ioredis itself.
 * If the installed ioredis builds its commands some other way, nothing is replaced
 * (`ioredisBuildsAsExpected`), and command-args.test.ts fails to say so.
 */
const commandModule = require('ioredis/built/Command') as { default: typeof Command };
const IoredisCommand = commandModule.default;

type CommandArgs = ConstructorParameters<typeof Command>;
type Internals = { args: unknown[]; stringifyArguments(): void };
const transformers = (IoredisCommand as unknown as { _transformer: { argument: Record<string, ((args: unknown[]) => unknown[]) | undefined> } })._transformer.argument;

const NO_ARGS: unknown[] = [];

/** `args.flat()`, without its cost when no argument is an array. */
export function flattenArgs(args: readonly unknown[]): unknown[] {
  for (let i = 0; i < args.length; i++) if (Array.isArray(args[i])) return args.flat();
  return args.slice();
}

export class QuickCommand extends IoredisCommand {
  constructor(...[name, args = [], options = {}, callback]: CommandArgs) {
    if (options.keyPrefix) {
      super(name, args, options, callback);
      return;
    }
    super(name, NO_ARGS as CommandArgs[1], options, callback);
    const self = this as unknown as Internals;
    const transform = transformers[name];
    self.args = flattenArgs(args);
    if (transform) self.args = transform(self.args);
    self.stringifyArguments();
  }
}

/** Whether ioredis' constructor is still the one QuickCommand stands in for. */
export function ioredisBuildsAsExpected(): boolean {
  const source = IoredisCommand.toString();
  return /this\.args = args\.flat\(\);\s*this\.callback = callback;\s*this\.initPromise\(\);/.test(source) && /stringifyArguments\(\);/.test(source);
}

if (ioredisBuildsAsExpected() && commandModule.default === IoredisCommand) commandModule.default = QuickCommand;
