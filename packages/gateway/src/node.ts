import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createMemoryBackend } from './backends/memory';
import { createRedisBackend } from './backends/redis';
import type { NodeConfig } from './config';
import type { Backend, OutboxDropReason } from './ports';
import { createAdmin } from './admin/admin';
import type { RegistryData } from './ports';
import { createContext } from './relay/context';
import { countedBus, createMetrics, queueDepths, watchQueueDepth, type Metrics } from './relay/metrics';
import { createRelay, type Relay } from './relay/relay';
import { dashboardDir } from './transport/dashboard-files';
import { createServer } from './transport/server';

export interface RelayNode {
  readonly port: number;
  readonly relay: Relay;
  readonly metrics: Metrics;
  /**
   * Graceful stop: readiness fails, new upgrades are refused, sockets close with 1001, work in
   * progress finishes, then the backend closes: each within `config.shutdownGraceMs`.
   */
  stop(): Promise<void>;
}

export interface NodeDeps {
  config: NodeConfig;
  registry: RegistryData;
  log: Logger;
}

export async function startRelayNode({ config, registry, log }: NodeDeps): Promise<RelayNode> {
  const metrics = createMetrics();
  // Each process start is a node of its own: a restarted pod that keeps its RELAY_NODE_ID must
  // not inherit the presence entries (and queue places) of the process it replaces.
  const nodeId = `${config.nodeId}-${randomBytes(3).toString('hex')}`;
  const backend = createBackend(config, registry, log, metrics);
  watchQueueDepth(metrics, () => queueDepths(backend));
  // The relay (sockets) and the admin operations share one context; the transport gets both.
  const ctx = createContext({
    nodeId,
    backend,
    log,
    metrics,
    limits: {
      replyTimeoutMs: config.replyTimeoutMs,
      maxTtlMs: config.maxTtlMs,
      finalRetentionMs: config.finalRetentionMs,
      idempotencyTtlMs: config.idempotencyTtlMs,
      nodeTtlMs: config.nodeTtlMs,
      timelineRetentionMs: config.timelineRetentionMs,
      streamMaxBytes: config.streamMaxBytes,
      webhookTimeoutMs: config.webhookTimeoutMs,
      webhookRetryMs: config.webhookRetryMs,
    },
  });
  const relay = createRelay(ctx, { requestTimeoutMs: config.agentWebhookTimeoutMs, backoffBaseMs: config.agentWebhookBackoffMs });
  const admin = createAdmin(ctx, { registryMode: config.registryMode, defaultTtlMs: config.defaultTtlMs });
  const server = createServer({
    host: config.host,
    port: config.port,
    nodeId,
    idleTimeoutS: config.idleTimeoutS,
    sseKeepaliveMs: config.sseKeepaliveMs,
    tokenDropBytes: config.tokenDropBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    relay,
    log,
    metrics,
    ...(config.adminToken ? { admin: { api: admin, token: config.adminToken, dashboardDir: dashboardDir() } } : {}),
  });
  const port = await server.listen();
  log.info(
    { port, host: config.host, backend: backend.name, node_id: nodeId, registry_mode: config.registryMode, admin_api: Boolean(config.adminToken) },
    'relay listening',
  );

  let stopping: Promise<void> | undefined;
  /** `work`'s outcome, or 'timeout' once the shutdown grace has passed. */
  const withinGrace = <T>(work: Promise<T>) =>
    Promise.race([work, new Promise<'timeout'>((resolve) => setTimeout(resolve, config.shutdownGraceMs, 'timeout').unref())]);
  return {
    port,
    relay,
    metrics,
    stop() {
      stopping ??= (async () => {
        log.info({ grace_ms: config.shutdownGraceMs }, 'draining');
        if ((await withinGrace(relay.drain())) === 'timeout') log.warn('grace period over with work still running');
        server.stopListening();
        // Bounded too: a store that cannot be reached must not keep the process from exiting.
        if ((await withinGrace(backend.close())) === 'timeout') log.warn('backend did not close in time; exiting anyway');
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

function createBackend(config: NodeConfig, registry: RegistryData, log: Logger, metrics: Metrics): Backend {
  const backend = createPorts(config, registry, log, metrics);
  return { ...backend, bus: countedBus(backend.bus, metrics) };
}

function createPorts(config: NodeConfig, registry: RegistryData, log: Logger, metrics: Metrics): Backend {
  const activity = { retentionMs: config.activityRetentionMs, maxEvents: config.recentEventsMax };
  const hooks = {
    onOutboxDrop: (appId: string, eventId: string, reason: OutboxDropReason) => {
      metrics.finalsDropped.inc();
      log.warn(
        { app_id: appId, event_id: eventId, reason },
        reason === 'full' ? 'held final frame dropped: outbox full' : 'held final frame dropped: retention passed',
      );
    },
    onTaskError: (err: unknown) => {
      metrics.backgroundErrors.inc({ task: 'scheduled' });
      log.error({ err }, 'scheduled task failed');
    },
  };
  const streams = {
    retentionMs: config.streamRetentionMs,
    // past the reply timeout a silent event gets its final, and from then the retention counts
    liveTtlMs: config.replyTimeoutMs + config.streamRetentionMs,
  };
  if (config.redis) {
    return createRedisBackend({
      target: config.redis,
      minReplicas: config.redisMinReplicas,
      prefix: config.redisPrefix,
      registry,
      registryMode: config.registryMode,
      rateWindowMs: config.rateWindowMs,
      finishedRetentionMs: config.finishedRetentionMs,
      log,
      metrics: metrics.registry,
      activity,
      streams,
      ...hooks,
    });
  }
  return createMemoryBackend({ registry, rateWindowMs: config.rateWindowMs, finishedRetentionMs: config.finishedRetentionMs, activity, streams, ...hooks });
}
