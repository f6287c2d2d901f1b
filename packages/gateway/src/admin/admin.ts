import { ErrorCode, type Role } from '@relay/protocol';
import { AGENT_DEFAULTS, APP_DEFAULTS, defaultHardRate, type AgentRecord, type AppRecord, type TokenRecord } from '../ports';
import { finishWithError } from '../relay/lifecycle';
import type { RelayContext } from '../relay/context';
import { kickTokens } from '../relay/kick';
import { generateToken, generateWebhookSecret, hashToken } from '../tokens';
import { createActivityAdmin } from './activity';
import { AdminError } from './admin-error';
import {
  checkEventId,
  checkPrincipalId,
  checkTokenId,
  CreateAgent,
  CreateApp,
  EmptyBody,
  parseBody,
  PutAllowlist,
  RotateToken,
  UpdateAgent,
  UpdateApp,
} from './schemas';
import { agentView, appView, connectionView, timelineView, tokenView, webhookTriesView } from './views';
import { WEBHOOK_TOKEN_ID } from '../http-agents/webhook-agents';

export interface AdminOptions {
  /** In file mode the registry file owns the registry: the API reads it but refuses changes. */
  registryMode: 'file' | 'admin';
  /** An agent created without default_ttl_ms gets this (RELAY_DEFAULT_TTL_MS). */
  defaultTtlMs: number;
}

/** An answer of the admin API: an HTTP status and a JSON body. */
export interface AdminAnswer {
  status: number;
  body: unknown;
}

/**
 * The operations behind the admin API, in the core: they know the rules (who may change what,
 * what a revocation or a deleted agent does to live sockets and waiting events) and the ports,
 * never HTTP. Bodies arrive as parsed JSON and are validated here; failures are AdminErrors.
 */
export type Admin = ReturnType<typeof createAdmin>;

export function createAdmin(ctx: RelayContext, options: AdminOptions) {
  const { backend, log } = ctx;
  const { registry, presence, queue } = backend;
  const ok = (body: unknown, status = 200): AdminAnswer => ({ status, body });

  const writable = () => {
    if (options.registryMode === 'file') {
      throw new AdminError(
        'registry_read_only',
        'The registry file (RELAY_CONFIG) owns the registry on this relay: change the file, or run with RELAY_REGISTRY_MODE=admin',
      );
    }
  };
  const notFound = (what: string, id: string): AdminError => new AdminError('not_found', `No ${what} "${id}"`);

  const appOrThrow = async (id: string): Promise<AppRecord> => {
    const app = await registry.app(checkPrincipalId(id));
    if (!app) throw notFound('app', id);
    return app;
  };
  const agentOrThrow = async (id: string): Promise<AgentRecord> => {
    const agent = await registry.agent(checkPrincipalId(id));
    if (!agent) throw notFound('agent', id);
    return agent;
  };

  /** Allowlists name apps that exist (or `*`): a typo must not silently allow nobody. */
  const checkAllowlist = async (apps: string[] | undefined, field: string) => {
    if (!apps) return;
    const known = new Set((await registry.apps()).map((a) => a.id));
    const unknown = apps.findIndex((a) => a !== '*' && !known.has(a));
    if (unknown >= 0) throw new AdminError('invalid_body', `${field}.${unknown}: no app "${apps[unknown]}"`, `${field}.${unknown}`);
  };
  const checkRates = (app: AppRecord) => {
    if (app.hardRateLimitPerMin < app.rateLimitPerMin) {
      throw new AdminError(
        'invalid_body',
        `hard_rate_limit_per_min: must be at least rate_limit_per_min (${app.rateLimitPerMin})`,
        'hard_rate_limit_per_min',
      );
    }
  };

  const appWithStatus = async (app: AppRecord) => appView(app, (await presence.list('app', app.id)).length);
  // An agent's sockets: the one connection that stands for its webhook (http-agents/) is not one.
  const agentSockets = async (agentId: string) =>
    (await presence.list('agent', agentId)).filter((c) => c.tokenId !== WEBHOOK_TOKEN_ID).length;
  const agentWithStatus = async (agent: AgentRecord) => agentView(agent, await agentSockets(agent.id), await queue.waiting(agent.id));

  const issue = async (role: Role, id: string, now: number) => {
    const token = generateToken(role, id);
    const record = await registry.addToken(role, id, hashToken(token), now);
    if (!record) throw notFound(role, id);
    log.info({ role, [`${role}_id`]: id, token_id: record.id }, 'token issued');
    return { ...tokenView(record), token };
  };
  const principalOrThrow = async (role: Role, id: string) => (role === 'app' ? appOrThrow(id) : agentOrThrow(id));

  return {
    /** The Dashboard's live view (admin/activity.ts). */
    activity: createActivityAdmin(ctx),
    async listApps() {
      return ok({ apps: await Promise.all((await registry.apps()).map(appWithStatus)) });
    },
    async getApp(id: string) {
      return ok(await appWithStatus(await appOrThrow(id)));
    },
    async createApp(body: unknown) {
      writable();
      const input = parseBody(CreateApp, body);
      const rate = input.rate_limit_per_min ?? APP_DEFAULTS.rateLimitPerMin;
      const app: AppRecord = {
        id: input.id,
        name: input.name ?? input.id,
        rateLimitPerMin: rate,
        hardRateLimitPerMin: input.hard_rate_limit_per_min ?? defaultHardRate(rate),
        maxConnections: input.max_connections ?? APP_DEFAULTS.maxConnections,
        webhookUrl: input.webhook_url ?? null,
      };
      checkRates(app);
      if (!(await registry.createApp(app))) throw new AdminError('already_exists', `App "${app.id}" already exists`, 'id');
      log.info({ app_id: app.id }, 'app created');
      return ok(await appWithStatus(app), 201);
    },
    async updateApp(id: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      const input = parseBody(UpdateApp, body);
      const changes: Partial<AppRecord> = {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.max_connections !== undefined ? { maxConnections: input.max_connections } : {}),
        ...(input.rate_limit_per_min !== undefined ? { rateLimitPerMin: input.rate_limit_per_min } : {}),
        // A new soft limit without a hard one moves the hard limit to its default, twice the soft.
        ...(input.hard_rate_limit_per_min !== undefined
          ? { hardRateLimitPerMin: input.hard_rate_limit_per_min }
          : input.rate_limit_per_min !== undefined
            ? { hardRateLimitPerMin: defaultHardRate(input.rate_limit_per_min) }
            : {}),
        ...(input.webhook_url !== undefined ? { webhookUrl: input.webhook_url } : {}),
      };
      const app = await registry.updateApp(id, changes, checkRates);
      if (!app) throw notFound('app', id);
      log.info({ app_id: id, fields: Object.keys(input) }, 'app changed');
      return ok(await appWithStatus(app));
    },
    async deleteApp(id: string) {
      writable();
      const tokens = await registry.deleteApp(checkPrincipalId(id));
      if (!tokens) throw notFound('app', id);
      await kickTokens(ctx, tokens.map((t) => t.id), 'App deleted');
      log.info({ app_id: id, tokens: tokens.length }, 'app deleted');
      return ok({ id, deleted: true });
    },

    async listAgents() {
      return ok({ agents: await Promise.all((await registry.agents()).map(agentWithStatus)) });
    },
    async getAgent(id: string) {
      return ok(await agentWithStatus(await agentOrThrow(id)));
    },
    async createAgent(body: unknown) {
      writable();
      const input = parseBody(CreateAgent, body);
      await checkAllowlist(input.allow_apps, 'allow_apps');
      const agent: AgentRecord = {
        id: input.id,
        name: input.name ?? input.id,
        description: input.description ?? '',
        allowApps: input.allow_apps ?? [],
        maxConnections: input.max_connections ?? AGENT_DEFAULTS.maxConnections,
        defaultTtlMs: input.default_ttl_ms ?? options.defaultTtlMs,
        maxInFlight: input.max_in_flight ?? AGENT_DEFAULTS.maxInFlight,
        maxQueue: input.max_queue ?? AGENT_DEFAULTS.maxQueue,
        webhookUrl: input.webhook_url ?? null,
      };
      if (!(await registry.createAgent(agent))) throw new AdminError('already_exists', `Agent "${agent.id}" already exists`, 'id');
      log.info({ agent_id: agent.id }, 'agent created');
      return ok(await agentWithStatus(agent), 201);
    },
    async updateAgent(id: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      const input = parseBody(UpdateAgent, body);
      await checkAllowlist(input.allow_apps, 'allow_apps');
      const changes: Partial<AgentRecord> = {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.allow_apps !== undefined ? { allowApps: input.allow_apps } : {}),
        ...(input.default_ttl_ms !== undefined ? { defaultTtlMs: input.default_ttl_ms } : {}),
        ...(input.max_in_flight !== undefined ? { maxInFlight: input.max_in_flight } : {}),
        ...(input.max_connections !== undefined ? { maxConnections: input.max_connections } : {}),
        ...(input.max_queue !== undefined ? { maxQueue: input.max_queue } : {}),
        ...(input.webhook_url !== undefined ? { webhookUrl: input.webhook_url } : {}),
      };
      const agent = await registry.updateAgent(id, changes);
      if (!agent) throw notFound('agent', id);
      log.info({ agent_id: id, fields: Object.keys(input) }, 'agent changed');
      return ok(await agentWithStatus(agent));
    },
    async putAllowlist(id: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      const input = parseBody(PutAllowlist, body);
      await checkAllowlist(input.apps, 'apps');
      const agent = await registry.updateAgent(id, { allowApps: [...new Set(input.apps)] });
      if (!agent) throw notFound('agent', id);
      log.info({ agent_id: id, allow_apps: agent.allowApps }, 'allowlist changed');
      return ok({ agent_id: id, apps: agent.allowApps });
    },
    /**
     * Deletes the agent and its tokens, closes its sockets, and ends every event in its queue
     * (waiting or in flight) with a final CANCELLED that says why: its apps hear of it at once
     * instead of waiting for a TTL, and a resend would only get AGENT_NOT_FOUND.
     */
    async deleteAgent(id: string) {
      writable();
      const tokens = await registry.deleteAgent(checkPrincipalId(id));
      if (!tokens) throw notFound('agent', id);
      let ended = 0;
      for (const eventId of await queue.events(id)) {
        if (await finishWithError(ctx, eventId, ErrorCode.CANCELLED, undefined, `Agent "${id}" was deleted`)) ended += 1;
      }
      await kickTokens(ctx, tokens.map((t) => t.id), 'Agent deleted');
      await queue.forget(id);
      log.info({ agent_id: id, tokens: tokens.length, events_ended: ended }, 'agent deleted');
      return ok({ id, deleted: true, events_ended: ended });
    },

    async listTokens(role: Role, id: string) {
      const tokens = await registry.tokens(role, checkPrincipalId(id));
      if (!tokens) throw notFound(role, id);
      return ok({ tokens: tokens.map(tokenView) });
    },
    async issueToken(role: Role, id: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      parseBody(EmptyBody, body);
      return ok(await issue(role, id, Date.now()), 201);
    },
    /**
     * A new token now; the old one keeps working for `grace_s` (0: it ends at once), then
     * stops, and its sockets on every node are closed with 1008.
     */
    async rotateToken(role: Role, id: string, tokenId: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      checkTokenId(tokenId);
      const { grace_s: graceS = 0 } = parseBody(RotateToken, body);
      await principalOrThrow(role, id);
      const old = (await registry.tokens(role, id))?.find((t) => t.id === tokenId);
      if (!old) throw notFound('token', tokenId);
      const now = Date.now();
      const fresh = await issue(role, id, now);
      const until = now + graceS * 1000;
      let replaced: TokenRecord | null = { ...old, expiresAt: now };
      if (graceS === 0) {
        await registry.revokeToken(role, id, tokenId);
        await kickTokens(ctx, [tokenId], 'Token rotated');
      } else {
        replaced = await registry.expireToken(role, id, tokenId, until);
        await backend.scheduler.at(until, { kind: 'token-expiry', role, principalId: id, tokenId });
      }
      log.info({ role, [`${role}_id`]: id, token_id: tokenId, new_token_id: fresh.id, grace_s: graceS }, 'token rotated');
      return ok({ ...fresh, replaces: replaced ? tokenView(replaced) : { id: tokenId } }, 201);
    },
    async revokeToken(role: Role, id: string, tokenId: string) {
      writable();
      checkPrincipalId(id);
      checkTokenId(tokenId);
      await principalOrThrow(role, id);
      if (!(await registry.revokeToken(role, id, tokenId))) throw notFound('token', tokenId);
      await kickTokens(ctx, [tokenId], 'Token revoked');
      log.info({ role, [`${role}_id`]: id, token_id: tokenId }, 'token revoked');
      return ok({ id: tokenId, revoked: true });
    },

    /**
     * Creates or replaces the webhook signing secret and answers it, the only time it is shown:
     * the registry keeps it because signing needs it, and every later try signs with the new one.
     */
    async rotateWebhookSecret(role: Role, id: string, body: unknown) {
      writable();
      checkPrincipalId(id);
      parseBody(EmptyBody, body);
      const secret = generateWebhookSecret();
      const changed =
        role === 'app'
          ? await registry.updateApp(id, { webhookSecret: secret })
          : await registry.updateAgent(id, { webhookSecret: secret });
      if (!changed) throw notFound(role, id);
      log.info({ role, [`${role}_id`]: id }, 'webhook secret rotated');
      return ok({ [`${role}_id`]: id, webhook_url: changed.webhookUrl ?? null, webhook_secret: secret }, 201);
    },

    /** The app's webhook and its latest tries (deliveries and failures), for the Dashboard. */
    async webhookTries(id: string) {
      const app = await appOrThrow(id);
      return ok(webhookTriesView(app, await backend.webhooks.recent(app.id)));
    },

    async connections(filter: { role?: string; id?: string }) {
      const all = await presence.all();
      const role = filter.role === 'app' || filter.role === 'agent' ? filter.role : undefined;
      if (filter.role !== undefined && !role) throw new AdminError('invalid_id', 'role must be app or agent', 'role');
      const chosen = all.filter((c) => (!role || c.role === role) && (filter.id === undefined || c.principalId === filter.id));
      return ok({ connections: chosen.map(connectionView) });
    },
    async queues() {
      const agents = await registry.agents();
      const rows = await Promise.all(
        agents.map(async (a) => ({
          agent_id: a.id,
          waiting: await queue.waiting(a.id),
          max_queue: a.maxQueue,
          connections: await agentSockets(a.id),
        })),
      );
      return ok({ queues: rows });
    },
    async event(eventId: string) {
      checkEventId(eventId);
      const steps = await backend.events.timeline(eventId);
      const record = await backend.events.get(eventId);
      if (steps.length === 0 && !record) throw notFound('event', eventId);
      let state: 'waiting' | 'in_flight' | 'finished' | 'unknown' = 'unknown';
      if (record?.finished || steps.some((s) => s.kind === 'final')) state = 'finished';
      else if (record) state = (await queue.holder(record.agentId, eventId)) ? 'in_flight' : 'waiting';
      return ok(timelineView(eventId, record, steps, state));
    },
  };
}
