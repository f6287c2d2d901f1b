#!/usr/bin/env node
import { CLI_COMMANDS, runCli } from './cli/cli';
import { ConfigError, loadConfig, settingsHelp } from './config';
import type { RegistryData } from './ports';

const HELP = `relay — WebSocket relay between apps and AI agents

Usage: relay            start a node (configured by environment variables)
       relay --help     this text
       relay apps|agents|tokens|connections|queues|events …
                        the admin API from a shell (relay apps --help lists the commands)

Environment (all optional; times in milliseconds unless the name ends in _S):

${settingsHelp()}

With neither RELAY_CONFIG nor REDIS_URL / REDIS_CLUSTER_URLS, a development app and agent are created and their
tokens printed. Endpoints: /v1/ws/app, /v1/ws/agent, /healthz, /readyz, /metrics; with
RELAY_ADMIN_TOKEN set, the admin API /v1/admin/ and the Dashboard /dashboard/.
`;

async function main(): Promise<void> {
  const command = process.argv[2];
  if (command !== undefined && CLI_COMMANDS.has(command)) {
    process.exitCode = await runCli(process.argv.slice(2), {
      env: process.env,
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
    });
    return;
  }
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  // Loaded only to start a node: the CLI commands above stay quick to start.
  const [{ createLogger }, { startRelayNode }, { developmentRegistry, readRegistryFile }] = await Promise.all([
    import('./log'),
    import('./node'),
    import('./registry-file'),
  ]);
  const config = loadConfig();
  const log = createLogger(config.logLevel, config.nodeId, process.stdout.isTTY === true);

  let registry: RegistryData;
  let devTokens: { appToken: string; agentToken: string } | undefined;
  if (config.registryPath) {
    registry = readRegistryFile(config.registryPath, config.defaultTtlMs);
  } else if (config.redis) {
    registry = { apps: [], agents: [], tokens: [] };
  } else {
    const dev = developmentRegistry(config.defaultTtlMs);
    registry = dev.data;
    devTokens = dev;
  }

  const starting = startRelayNode({ config, registry, log });
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    starting
      .then((node) => node.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  // Installed before the node can announce that it listens: until a handler exists, SIGTERM's
  // default action kills the process at once, so an orchestrator that stops a node right after
  // it came up would see it die by signal instead of draining and exiting 0.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const node = await starting;
  if (devTokens) printDevelopmentBanner(node.port, devTokens, Boolean(config.adminToken));
}

/**
 * Development tokens go to the terminal, never into the structured log: logs must not hold
 * secrets, and these exist only so a new user can try Relay at once.
 */
function printDevelopmentBanner(port: number, tokens: { appToken: string; agentToken: string }, admin: boolean): void {
  const url = `ws://localhost:${port}`;
  process.stdout.write(`
Relay is running in development mode: in-memory backend, one node, nothing kept across restarts.

  app   portal   token ${tokens.appToken}
  agent athena   token ${tokens.agentToken}

Try it, each in a terminal of its own:
  RELAY_URL=${url} RELAY_TOKEN=${tokens.agentToken} node examples/echo-agent.js
  RELAY_URL=${url} RELAY_TOKEN=${tokens.appToken} node examples/send-event.js "@athena summarize this discussion"

${
  admin
    ? `The Dashboard: http://localhost:${port}/dashboard/ (sign in with RELAY_ADMIN_TOKEN).`
    : 'Set RELAY_ADMIN_TOKEN (16+ characters) to open the Dashboard at /dashboard/ and the admin API.'
}

`);
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || (err as Error).name === 'RegistryFileError';
  process.stderr.write(`relay: ${known ? (err as Error).message : (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
