import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role } from '@relay/protocol';
import type { Logger } from 'pino';
import { AdminError } from '../admin/admin-error';
import type { Admin, AdminAnswer } from '../admin/admin';
import type { Metrics } from '../relay/metrics';
import { bearer, readBody, sendJson } from './http';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws';

export interface AdminRoutesOptions {
  admin: Admin;
  adminToken: string;
  log: Logger;
  metrics: Metrics;
}

/** Admin request bodies are small records; anything bigger is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024;

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
/** Metric labels stay bounded: any other method is counted as `other`. */
const KNOWN_METHODS = new Set(['get', 'post', 'patch', 'put', 'delete']);
type Handler = (params: string[], body: unknown, query: URLSearchParams) => Promise<AdminAnswer>;

/**
 * The admin API's HTTP side: Bearer authentication (constant time), JSON bodies, routing and
 * errors as `{"error": {"code", "message"}}`. What each route does is the core's (admin/admin.ts).
 */
export function registerAdminRoutes(app: TemplatedApp, options: AdminRoutesOptions): void {
  const { admin, log, metrics } = options;
  const expected = sha256(options.adminToken);
  const principal = (role: Role) => `/v1/admin/${role}s/:id`;

  // Path patterns: `:x` is one segment, handed to the handler in order.
  const routes: { method: Method; pattern: string; handler: Handler }[] = [
    { method: 'get', pattern: '/v1/admin/apps', handler: () => admin.listApps() },
    { method: 'post', pattern: '/v1/admin/apps', handler: (_, body) => admin.createApp(body) },
    { method: 'get', pattern: principal('app'), handler: ([id]) => admin.getApp(id as string) },
    { method: 'patch', pattern: principal('app'), handler: ([id], body) => admin.updateApp(id as string, body) },
    { method: 'delete', pattern: principal('app'), handler: ([id]) => admin.deleteApp(id as string) },
    { method: 'get', pattern: `${principal('app')}/webhooks`, handler: ([id]) => admin.webhookTries(id as string) },
    { method: 'get', pattern: '/v1/admin/agents', handler: () => admin.listAgents() },
    { method: 'post', pattern: '/v1/admin/agents', handler: (_, body) => admin.createAgent(body) },
    { method: 'get', pattern: principal('agent'), handler: ([id]) => admin.getAgent(id as string) },
    { method: 'patch', pattern: principal('agent'), handler: ([id], body) => admin.updateAgent(id as string, body) },
    { method: 'delete', pattern: principal('agent'), handler: ([id]) => admin.deleteAgent(id as string) },
    { method: 'put', pattern: `${principal('agent')}/allowlist`, handler: ([id], body) => admin.putAllowlist(id as string, body) },
    ...(['app', 'agent'] as const).flatMap((role) => [
      { method: 'get' as const, pattern: `${principal(role)}/tokens`, handler: ([id]: string[]) => admin.listTokens(role, id as string) },
      {
        method: 'post' as const,
        pattern: `${principal(role)}/tokens`,
        handler: ([id]: string[], body: unknown) => admin.issueToken(role, id as string, body),
      },
      {
        method: 'post' as const,
        pattern: `${principal(role)}/tokens/:token_id/rotate`,
        handler: ([id, tokenId]: string[], body: unknown) => admin.rotateToken(role, id as string, tokenId as string, body),
      },
      {
        method: 'delete' as const,
        pattern: `${principal(role)}/tokens/:token_id`,
        handler: ([id, tokenId]: string[]) => admin.revokeToken(role, id as string, tokenId as string),
      },
      {
        method: 'post' as const,
        pattern: `${principal(role)}/webhook-secret`,
        handler: ([id]: string[], body: unknown) => admin.rotateWebhookSecret(role, id as string, body),
      },
    ]),
    {
      method: 'get',
      pattern: '/v1/admin/connections',
      handler: (_, __, query) => admin.connections({ role: query.get('role') ?? undefined, id: query.get('id') ?? undefined }),
    },
    { method: 'get', pattern: '/v1/admin/queues', handler: () => admin.queues() },
    { method: 'get', pattern: '/v1/admin/events/:event_id', handler: ([id]) => admin.event(id as string) },
    { method: 'get', pattern: '/v1/admin/activity', handler: (_, __, query) => admin.activity.overview(query) },
    { method: 'get', pattern: '/v1/admin/activity/events', handler: (_, __, query) => admin.activity.events(query) },
    { method: 'get', pattern: '/v1/admin/activity/agents/:id', handler: ([id], __, query) => admin.activity.agent(id as string, query) },
  ];
  const compiled = routes.map((r) => ({ ...r, segments: r.pattern.split('/') }));

  const match = (path: string) => {
    const segments = path.replace(/\/+$/, '').split('/');
    const found: { method: Method; handler: Handler; params: string[] }[] = [];
    for (const route of compiled) {
      if (route.segments.length !== segments.length) continue;
      const params: string[] = [];
      const same = route.segments.every((s, i) => {
        const actual = segments[i] as string;
        if (s.startsWith(':')) {
          params.push(safeDecode(actual));
          return actual !== '';
        }
        return s === actual;
      });
      if (same) found.push({ method: route.method, handler: route.handler, params });
    }
    return found;
  };

  const handle = (res: HttpResponse, req: HttpRequest) => {
    // The request object is only valid until the first await: read everything now.
    const method = req.getMethod().toLowerCase();
    const path = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const token = bearer(req.getHeader('authorization'));
    const contentLength = req.getHeader('content-length');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (aborted) return;
      metrics.adminRequests.inc({ method: KNOWN_METHODS.has(method) ? method : 'other', status: String(status) });
      res.cork(() => sendJson(res, status, body, { 'cache-control': 'no-store', ...headers }));
    };
    const fail = (err: AdminError, headers: Record<string, string> = {}) => answer(err.status, err.toJSON(), headers);

    const hasBody = method === 'post' || method === 'patch' || method === 'put';
    const body = hasBody ? readBody(res, MAX_BODY_BYTES) : Promise.resolve(Buffer.alloc(0));
    if (!authorized(token)) {
      metrics.adminUnauthorized.inc();
      log.warn({ method, path }, 'admin request with a missing or wrong token');
      fail(new AdminError('unauthorized', 'Missing or wrong admin token (Authorization: Bearer <RELAY_ADMIN_TOKEN>)'), {
        'www-authenticate': 'Bearer realm="relay-admin"',
      });
      return;
    }
    const candidates = match(path);
    const route = candidates.find((c) => c.method === method);
    if (!route) {
      if (candidates.length === 0) return fail(new AdminError('not_found', `No admin route ${path}`));
      const allowed = [...new Set(candidates.map((c) => c.method.toUpperCase()))].join(', ');
      return fail(new AdminError('method_not_allowed', `${method.toUpperCase()} is not allowed here; use ${allowed}`), { allow: allowed });
    }
    body
      .then(async (raw) => {
        if (raw === null) throw new AdminError('body_too_large', `Request body over ${MAX_BODY_BYTES} bytes`);
        const parsed = hasBody ? parseJson(raw, contentLength) : undefined;
        const result = await route.handler(route.params, parsed, query);
        answer(result.status, result.body);
      })
      .catch((err: unknown) => {
        if (err instanceof AdminError) return fail(err);
        log.error({ err, method, path }, 'admin request failed');
        fail(new AdminError('unavailable', 'The relay could not complete this request; retry'));
      });
  };

  function authorized(token: string | undefined): boolean {
    // Both sides hashed first: equal lengths for timingSafeEqual, and no early exit on length.
    return timingSafeEqual(sha256(token ?? ''), expected) && token !== undefined;
  }

  app.any('/v1/admin', handle);
  app.any('/v1/admin/*', handle);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not valid percent-encoding: the id check refuses it as it is
  }
}

/** An empty body is no body (`undefined`); anything else must be JSON. */
function parseJson(raw: Buffer, contentLength: string): unknown {
  if (raw.length === 0 && (contentLength === '' || contentLength === '0')) return undefined;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as unknown;
  } catch (err) {
    throw new AdminError('invalid_json', `The body is not JSON: ${(err as Error).message}`);
  }
}
