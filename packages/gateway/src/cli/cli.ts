/**
 * `relay apps|agents|tokens|connections|queues|events …`: the admin API from a shell, for
 * scripts. Answers are printed as JSON on stdout; failures go to stderr with exit code 1 (the
 * relay refused) or 2 (the command line is wrong). RELAY_URL and RELAY_ADMIN_TOKEN say where
 * and as whom.
 */

export const CLI_COMMANDS = new Set(['apps', 'agents', 'tokens', 'connections', 'queues', 'events']);

export const CLI_USAGE = `relay apps|agents|tokens|connections|queues|events — the admin API from a shell

  relay apps list
  relay apps get <id>
  relay apps create <id> [--name N] [--rate-limit N] [--hard-rate-limit N] [--max-connections N]
                         [--webhook-url URL]
  relay apps update <id> [the same options]   --webhook-url none removes the webhook
  relay apps webhook-secret <id> [--secret-only]   a new signing secret, shown once
  relay apps delete <id>
  relay agents list
  relay agents get <id>
  relay agents create <id> [--name N] [--description D] [--allow app1,app2|*] [--default-ttl-ms N]
                           [--max-in-flight N] [--max-connections N] [--max-queue N]
                           [--webhook-url URL]
  relay agents update <id> [the same options]
  relay agents webhook-secret <id> [--secret-only]
  relay agents allowlist <id> [app ...]       set exactly these apps (none: nobody; * for all)
  relay agents delete <id>                    its waiting events end with CANCELLED
  relay tokens list <app|agent> <id>
  relay tokens issue <app|agent> <id> [--secret-only]
  relay tokens rotate <app|agent> <id> <token_id> [--grace S] [--secret-only]
  relay tokens revoke <app|agent> <id> <token_id>
  relay connections [--role app|agent] [--id ID]
  relay queues
  relay events <event_id>                     the event's timeline

Environment: RELAY_URL (default http://localhost:8080; ws:// and wss:// work too) and
RELAY_ADMIN_TOKEN (the token the relay runs with). Output is JSON; --secret-only prints just the
new token or webhook secret, for scripts. Exit codes: 0 done, 1 the relay refused (its error on stderr), 2 usage.
`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  fetch?: typeof fetch;
}

class UsageError extends Error {}

/** Flags each command takes: flag → the API field, and whether it is a number. */
type FlagKind = 'int' | 'text' | 'list' | 'url';
const APP_FLAGS: Record<string, [string, FlagKind]> = {
  name: ['name', 'text'],
  'rate-limit': ['rate_limit_per_min', 'int'],
  'hard-rate-limit': ['hard_rate_limit_per_min', 'int'],
  'max-connections': ['max_connections', 'int'],
  'webhook-url': ['webhook_url', 'url'],
};
const AGENT_FLAGS: Record<string, [string, FlagKind]> = {
  name: ['name', 'text'],
  description: ['description', 'text'],
  allow: ['allow_apps', 'list'],
  'default-ttl-ms': ['default_ttl_ms', 'int'],
  'max-in-flight': ['max_in_flight', 'int'],
  'max-connections': ['max_connections', 'int'],
  'max-queue': ['max_queue', 'int'],
  'webhook-url': ['webhook_url', 'url'],
};

/** Splits `--flag value`, `--flag=value` and bare `--switch` from positional arguments. */
function parseArgs(args: string[], switches: Set<string>): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (switches.has(name)) {
      flags.set(name, 'true');
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  return { positional, flags };
}

function body(flags: Map<string, string>, spec: Record<string, [string, FlagKind]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, value] of flags) {
    const known = spec[flag];
    if (!known) throw new UsageError(`unknown option --${flag}`);
    const [fieldName, kind] = known;
    if (kind === 'int') {
      if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} takes a whole number, got "${value}"`);
      out[fieldName] = Number(value);
    } else if (kind === 'url') out[fieldName] = value === 'none' ? null : value;
    else if (kind === 'list') out[fieldName] = value.split(',').map((s) => s.trim()).filter(Boolean);
    else out[fieldName] = value;
  }
  return out;
}

function want(positional: string[], count: number, shape: string): string[] {
  if (positional.length !== count) throw new UsageError(`expected: relay ${shape}`);
  return positional;
}

function role(value: string | undefined): 'apps' | 'agents' {
  if (value === 'app') return 'apps';
  if (value === 'agent') return 'agents';
  throw new UsageError(`the first argument is app or agent, got "${value ?? ''}"`);
}

const enc = encodeURIComponent;

/** Turns argv (after `relay`) into one admin API request: method, path, body. */
function plan(argv: string[]): { method: string; path: string; body?: unknown; secretOnly: boolean } {
  const [command, verb, ...rest] = argv;
  const { positional, flags } = parseArgs(rest, new Set(['secret-only']));
  const secretOnly = flags.delete('secret-only');
  const one = (shape: string) => want(positional, 1, shape)[0] as string;
  const noFlags = () => {
    if (flags.size > 0) throw new UsageError(`unknown option --${[...flags.keys()][0]}`);
  };
  const answer = (method: string, path: string, payload?: unknown) => ({ method, path, body: payload, secretOnly });

  if (command === 'apps' || command === 'agents') {
    const spec = command === 'apps' ? APP_FLAGS : AGENT_FLAGS;
    const base = `/v1/admin/${command}`;
    switch (verb) {
      case 'list':
        noFlags();
        want(positional, 0, `${command} list`);
        return answer('GET', base);
      case 'get':
        noFlags();
        return answer('GET', `${base}/${enc(one(`${command} get <id>`))}`);
      case 'create':
        return answer('POST', base, { id: one(`${command} create <id> [options]`), ...body(flags, spec) });
      case 'update':
        return answer('PATCH', `${base}/${enc(one(`${command} update <id> [options]`))}`, body(flags, spec));
      case 'delete':
        noFlags();
        return answer('DELETE', `${base}/${enc(one(`${command} delete <id>`))}`);
      case 'webhook-secret':
        noFlags();
        return answer('POST', `${base}/${enc(one(`${command} webhook-secret <id>`))}/webhook-secret`, {});
      case 'allowlist':
        if (command !== 'agents') break;
        noFlags();
        if (positional.length < 1) throw new UsageError('expected: relay agents allowlist <id> [app ...]');
        return answer('PUT', `${base}/${enc(positional[0] as string)}/allowlist`, { apps: positional.slice(1) });
    }
    throw new UsageError(`unknown: relay ${command} ${verb ?? ''}`.trim());
  }
  if (command === 'tokens') {
    const tokens = (r: string | undefined, id: string | undefined) => `/v1/admin/${role(r)}/${enc(id ?? '')}/tokens`;
    switch (verb) {
      case 'list': {
        noFlags();
        const [r, id] = want(positional, 2, 'tokens list <app|agent> <id>');
        return answer('GET', tokens(r, id));
      }
      case 'issue': {
        noFlags();
        const [r, id] = want(positional, 2, 'tokens issue <app|agent> <id>');
        return answer('POST', tokens(r, id));
      }
      case 'rotate': {
        const [r, id, tokenId] = want(positional, 3, 'tokens rotate <app|agent> <id> <token_id> [--grace S]');
        const grace = flags.get('grace');
        flags.delete('grace');
        noFlags();
        if (grace !== undefined && !/^\d+$/.test(grace)) throw new UsageError(`--grace takes whole seconds, got "${grace}"`);
        return answer('POST', `${tokens(r, id)}/${enc(tokenId as string)}/rotate`, grace === undefined ? {} : { grace_s: Number(grace) });
      }
      case 'revoke': {
        noFlags();
        const [r, id, tokenId] = want(positional, 3, 'tokens revoke <app|agent> <id> <token_id>');
        return answer('DELETE', `${tokens(r, id)}/${enc(tokenId as string)}`);
      }
    }
    throw new UsageError(`unknown: relay tokens ${verb ?? ''}`.trim());
  }
  if (command === 'connections') {
    const { positional: extra, flags: filters } = parseArgs(argv.slice(1), new Set());
    if (extra.length > 0) throw new UsageError('expected: relay connections [--role app|agent] [--id ID]');
    const query = new URLSearchParams();
    for (const [name, value] of filters) {
      if (name !== 'role' && name !== 'id') throw new UsageError(`unknown option --${name}`);
      query.set(name, value);
    }
    return { method: 'GET', path: `/v1/admin/connections${query.size ? `?${query}` : ''}`, secretOnly: false };
  }
  if (command === 'queues') {
    if (argv.length > 1) throw new UsageError('expected: relay queues');
    return { method: 'GET', path: '/v1/admin/queues', secretOnly: false };
  }
  if (command === 'events') {
    if (argv.length !== 2) throw new UsageError('expected: relay events <event_id>');
    return { method: 'GET', path: `/v1/admin/events/${enc(argv[1] as string)}`, secretOnly: false };
  }
  throw new UsageError(`unknown command "${command ?? ''}"`);
}

function baseUrl(raw: string | undefined): string {
  const url = (raw || 'http://localhost:8080').replace(/^ws(s?):\/\//, 'http$1://').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`RELAY_URL must be an http(s):// or ws(s):// URL, got "${raw}"`);
  return url;
}

/** Runs one CLI command; resolves to the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let request: ReturnType<typeof plan>;
  let url: string;
  const token = io.env.RELAY_ADMIN_TOKEN;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(CLI_USAGE);
      return 0;
    }
    request = plan(argv);
    url = baseUrl(io.env.RELAY_URL);
    if (!token) throw new UsageError('RELAY_ADMIN_TOKEN is not set: it is the admin token the relay runs with');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`relay: ${err.message}\n\n${CLI_USAGE}`);
    return 2;
  }
  let res: Response;
  try {
    res = await (io.fetch ?? fetch)(`${url}${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${token}`, ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
    });
  } catch (err) {
    io.err(`relay: cannot reach ${url}: ${(err as Error).cause ?? (err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // not JSON (a proxy's page?): reported as it is below
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    io.err(`relay: ${error?.code ?? 'error'}: ${error?.message ?? text.slice(0, 200)} (HTTP ${res.status})\n`);
    return 1;
  }
  const shown = parsed as { token?: unknown; webhook_secret?: unknown } | undefined;
  const secret = shown?.token ?? shown?.webhook_secret;
  if (request.secretOnly && typeof secret === 'string') io.out(`${secret}\n`);
  else io.out(`${JSON.stringify(parsed, null, 2)}\n`);
  return 0;
}
