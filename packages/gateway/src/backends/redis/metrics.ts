import { performance } from 'node:perf_hooks';
import type { Command } from 'ioredis';
import type { RedisClient } from './connect';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { TalliedHistogram } from '../../tallied-histogram';

const COMMAND_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The Redis backend's series, on the node's registry. */
export function createRedisMetrics(registry: Registry, isUp: () => boolean) {
  return {
    up: new Gauge({
      name: 'relay_redis_up',
      help: '1 while this node can use Redis (commands and bus connections ready), else 0',
      registers: [registry],
      collect() {
        this.set(isUp() ? 1 : 0);
      },
    }),
    storedFinalBytes: new Histogram({
      name: 'relay_stored_final_bytes',
      help: "Size of each final frame stored with its finished event (kept for the finished retention, or the idempotency key's TTL)",
      buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304],
      registers: [registry],
    }),
    commandDuration: new TalliedHistogram(
      'relay_redis_command_duration_seconds',
      "From a command's writing to its reply, on the node's command connection; scripts by name",
      'command',
      COMMAND_SECONDS,
      registry,
    ),
  };
}

export type RedisMetrics = ReturnType<typeof createRedisMetrics>;

const TIMED = Symbol('relay.timed');

/**
 * Times every command the client sends, those of pipelines included (a pipeline sends each of
 * its commands through `sendCommand`). A script is labelled `script:<name>` rather than
 * `evalsha` (or `eval`, the first time a server runs it), which would hide which operation is
 * slow; the label set stays the few commands and scripts the backend uses.
 */
export function timeCommands(client: RedisClient, histogram: RedisMetrics['commandDuration'], scriptNames: Map<string, string>): void {
  const send = client.sendCommand.bind(client);
  // A command sent while the client was not ready waits in its offline queue and goes through
  // sendCommand again once it is: it is timed once, from its first call. Marked on itself: a
  // WeakSet of every command sent cost about 0.75 µs a command.
  (client as { sendCommand: unknown }).sendCommand = (command: Command & { [TIMED]?: true }, ...rest: unknown[]) => {
    if (command[TIMED]) return (send as (...args: unknown[]) => unknown)(command, ...rest);
    command[TIMED] = true;
    const start = performance.now();
    const script = command.name === 'evalsha' || command.name === 'eval';
    const label = script ? `script:${scriptNames.get(String(command.args[0])) ?? 'unknown'}` : command.name;
    const done = () => {
      histogram.series(label).observe((performance.now() - start) / 1000);
    };
    // A refused command (Redis down) has no latency to speak of: relay_redis_up tells of it.
    command.promise.then(done, () => {});
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  };
}
