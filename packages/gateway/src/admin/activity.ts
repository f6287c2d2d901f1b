import type { ActivityEvent, ActivityMinute } from '../ports';
import { isAnswered, LATENCY_BOUNDS_MS, MINUTE_MS, minuteOf, parseField, quantile, type Latency } from '../activity/counts';
import type { RelayContext } from '../relay/context';
import { AdminError } from './admin-error';
import { checkPrincipalId } from './schemas';
import { connectionView } from './views';

// The Dashboard's live view, cluster-wide: per-minute counts every node adds to, recent event
// rows, and what presence and the queue say now. Never a payload.

const iso = (ms: number) => new Date(ms).toISOString();

/** A count of minutes from the query: 1 to 1440, 60 unless told. */
function minutesParam(raw: string | null, fallback = 60): number {
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1440) throw new AdminError('invalid_query', 'minutes must be an integer from 1 to 1440', 'minutes');
  return n;
}

/** An app or agent id from the query, named as the parameter it came in. */
function idParam(name: string, raw: string | null): string | undefined {
  if (raw === null || raw === '') return undefined;
  try {
    return checkPrincipalId(raw);
  } catch (err) {
    throw new AdminError('invalid_query', `${name}: ${(err as Error).message}`, name);
  }
}

/** An instant from the query: ISO 8601 or ms since the epoch. */
function instantParam(name: string, raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new AdminError('invalid_query', `${name} must be an ISO 8601 time or ms since the epoch`, name);
  return ms;
}

interface AgentTotals {
  accepted: number;
  delivered: number;
  answered: number;
  failed: Record<string, number>;
  tokens: number;
  ttft: number[];
  reply: number[];
}

const emptyTotals = (): AgentTotals => ({
  accepted: 0,
  delivered: 0,
  answered: 0,
  failed: {},
  tokens: 0,
  ttft: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0),
  reply: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0),
});

/** Adds one minute's counters into per-agent totals (only `agentId`'s, when given). */
function addMinute(into: Map<string, AgentTotals>, minute: ActivityMinute, agentId?: string): void {
  for (const [name, n] of Object.entries(minute.counts)) {
    const f = parseField(name);
    if (!f || (agentId !== undefined && f.agentId !== agentId)) continue;
    let t = into.get(f.agentId);
    if (!t) into.set(f.agentId, (t = emptyTotals()));
    if (f.kind === 'accepted') t.accepted += n;
    else if (f.kind === 'delivered') t.delivered += n;
    else if (f.kind === 'tokens') t.tokens += n;
    else if (f.kind === 'ended' && f.detail) {
      if (isAnswered(f.detail)) t.answered += n;
      else t.failed[f.detail] = (t.failed[f.detail] ?? 0) + n;
    } else if (f.kind === 'ttft' || f.kind === 'reply') {
      const i = Number(f.detail);
      if (Number.isInteger(i) && i >= 0 && i <= LATENCY_BOUNDS_MS.length) t[f.kind][i] = (t[f.kind][i] ?? 0) + n;
    }
  }
}

const percentiles = (histogram: number[]) => {
  const p50 = quantile(histogram, 0.5);
  return p50 === null ? null : { p50, p95: quantile(histogram, 0.95) as number, count: histogram.reduce((a, b) => a + b, 0) };
};

const sumFailed = (failed: Record<string, number>) => Object.values(failed).reduce((a, b) => a + b, 0);

function eventView(row: ActivityEvent) {
  return {
    event_id: row.eventId,
    app_id: row.appId,
    agent_id: row.agentId,
    thread_id: row.threadId,
    accepted_at: iso(row.acceptedAt),
    // From the steps the row has seen: a delivered event handed back for redelivery shows
    // in_flight until it is delivered again or ends.
    state: row.outcome !== undefined ? 'finished' : row.deliveredMs !== undefined ? 'in_flight' : 'waiting',
    outcome: row.outcome ?? null,
    attempt: row.attempt ?? 0,
    latencies_ms: { delivered: row.deliveredMs ?? null, first_token: row.firstTokenMs ?? null, final: row.finalMs ?? null },
  };
}

/** Whether a row's outcome matches the filter: `answered`, `failed`, `open`, or one outcome exactly. */
function outcomeMatches(filter: string, outcome: string | undefined): boolean {
  if (filter === 'open') return outcome === undefined;
  if (outcome === undefined) return false;
  if (filter === 'answered') return isAnswered(outcome);
  if (filter === 'failed') return !isAnswered(outcome);
  return outcome === filter;
}

export function createActivityAdmin(ctx: RelayContext) {
  const { backend } = ctx;

  /** Per-minute series over the window ending with the current minute; empty minutes are zeros. */
  const minuteWindow = async (minutes: number, now: number) => {
    const to = minuteOf(now);
    const from = to - (minutes - 1) * MINUTE_MS;
    const found = await backend.activity.minutes(from, to);
    const byMinute = new Map(found.map((m) => [m.minute, m]));
    return { from, to, starts: Array.from({ length: minutes }, (_, i) => from + i * MINUTE_MS), byMinute };
  };

  const queueOf = async (agentId: string) => {
    const [all, waiting] = await Promise.all([backend.queue.events(agentId), backend.queue.waiting(agentId)]);
    return { waiting, in_flight: Math.max(0, all.length - waiting) };
  };

  const count = (into: Record<string, number>, key: string) => {
    into[key] = (into[key] ?? 0) + 1;
  };

  return {
    /** GET /v1/admin/activity?minutes=N: the overview, every node's counts summed. */
    async overview(query: URLSearchParams) {
      const minutes = minutesParam(query.get('minutes'));
      const now = Date.now();
      const { from, to, starts, byMinute } = await minuteWindow(minutes, now);
      const totals = new Map<string, AgentTotals>();
      const failedCodes = new Set<string>();
      const perMinute = starts.map((start) => {
        const one = new Map<string, AgentTotals>();
        const minute = byMinute.get(start);
        if (minute) {
          addMinute(one, minute);
          addMinute(totals, minute);
        }
        const all = [...one.values()];
        const failed: Record<string, number> = {};
        for (const t of all) for (const [code, n] of Object.entries(t.failed)) failed[code] = (failed[code] ?? 0) + n;
        for (const code of Object.keys(failed)) failedCodes.add(code);
        // The current minute has run only so far: its rate is over the seconds it has had.
        const seconds = start === to ? Math.max(1, (now - start) / 1000) : 60;
        const tokens = all.reduce((a, t) => a + t.tokens, 0);
        return {
          accepted: all.reduce((a, t) => a + t.accepted, 0),
          answered: all.reduce((a, t) => a + t.answered, 0),
          failed,
          tokens_per_s: Math.round((tokens / seconds) * 100) / 100,
        };
      });

      const [agents, conns] = await Promise.all([backend.registry.agents(), backend.presence.all()]);
      const byApp: Record<string, number> = {};
      const byAgent: Record<string, number> = {};
      const byNode: Record<string, number> = {};
      for (const c of conns) {
        count(c.role === 'app' ? byApp : byAgent, c.principalId);
        count(byNode, c.nodeId);
      }
      const agentRows = await Promise.all(
        agents.map(async (a) => {
          const t = totals.get(a.id) ?? emptyTotals();
          return {
            agent_id: a.id,
            accepted: t.accepted,
            answered: t.answered,
            failed: sumFailed(t.failed),
            tokens: t.tokens,
            time_to_first_token_ms: percentiles(t.ttft),
            time_to_reply_ms: percentiles(t.reply),
            ...(await queueOf(a.id)),
            max_queue: a.maxQueue,
            connections: byAgent[a.id] ?? 0,
          };
        }),
      );
      return {
        status: 200,
        body: {
          from: iso(from),
          to: iso(to + MINUTE_MS),
          minutes,
          series: {
            minute: starts.map(iso),
            accepted: perMinute.map((m) => m.accepted),
            answered: perMinute.map((m) => m.answered),
            failed: Object.fromEntries([...failedCodes].sort().map((code) => [code, perMinute.map((m) => m.failed[code] ?? 0)])),
            tokens_per_s: perMinute.map((m) => m.tokens_per_s),
          },
          totals: {
            accepted: perMinute.reduce((a, m) => a + m.accepted, 0),
            answered: perMinute.reduce((a, m) => a + m.answered, 0),
            failed: Object.fromEntries([...failedCodes].sort().map((code) => [code, perMinute.reduce((a, m) => a + (m.failed[code] ?? 0), 0)])),
          },
          agents: agentRows,
          connections: { total: conns.length, by_app: byApp, by_agent: byAgent, by_node: byNode },
        },
      };
    },

    /** GET /v1/admin/activity/events: the newest events, filtered by app, agent, outcome and accept time. */
    async events(query: URLSearchParams) {
      const app = idParam('app', query.get('app'));
      const agent = idParam('agent', query.get('agent'));
      const outcome = query.get('outcome') || undefined;
      if (outcome !== undefined && !/^[A-Za-z_]{1,64}$/.test(outcome)) {
        throw new AdminError('invalid_query', 'outcome must be answered, failed, open, or an outcome such as reply_stop or AGENT_TIMEOUT', 'outcome');
      }
      const since = instantParam('since', query.get('since'));
      const until = instantParam('until', query.get('until'));
      const limitRaw = query.get('limit');
      const limit = limitRaw === null || limitRaw === '' ? 100 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AdminError('invalid_query', 'limit must be an integer from 1 to 1000', 'limit');
      // The store holds at most RELAY_RECENT_EVENTS_MAX rows: filtering them all is bounded.
      const rows = await backend.activity.recentEvents(Number.MAX_SAFE_INTEGER);
      const chosen = rows.filter(
        (r) =>
          (app === undefined || r.appId === app) &&
          (agent === undefined || r.agentId === agent) &&
          (outcome === undefined || outcomeMatches(outcome, r.outcome)) &&
          (since === undefined || r.acceptedAt >= since) &&
          (until === undefined || r.acceptedAt <= until),
      );
      return { status: 200, body: { events: chosen.slice(0, limit).map(eventView), matched: chosen.length } };
    },

    /** GET /v1/admin/activity/agents/:id: one agent's connections, queue, failures and last hour. */
    async agent(agentId: string, query: URLSearchParams) {
      checkPrincipalId(agentId);
      const record = await backend.registry.agent(agentId);
      if (!record) throw new AdminError('not_found', `No agent "${agentId}"`);
      const minutes = minutesParam(query.get('minutes'));
      const now = Date.now();
      const { starts, byMinute } = await minuteWindow(minutes, now);
      const latency = (which: Latency, q: number) =>
        starts.map((start) => {
          const one = new Map<string, AgentTotals>();
          const minute = byMinute.get(start);
          if (minute) addMinute(one, minute, agentId);
          const t = one.get(agentId);
          return t ? quantile(t[which], q) : null;
        });
      const totals = new Map<string, AgentTotals>();
      for (const m of byMinute.values()) addMinute(totals, m, agentId);
      const t = totals.get(agentId) ?? emptyTotals();
      const [sockets, queue, rows] = await Promise.all([
        backend.presence.list('agent', agentId),
        queueOf(agentId),
        backend.activity.recentEvents(Number.MAX_SAFE_INTEGER),
      ]);
      const mine = rows.filter((r) => r.agentId === agentId);
      const failures = mine.filter((r) => r.outcome !== undefined && !isAnswered(r.outcome)).slice(0, 20);
      // Among the recent rows: an event older than the list's bounds is counted above, not listed.
      const open = mine.filter((r) => r.outcome === undefined).slice(0, 20);
      return {
        status: 200,
        body: {
          agent_id: agentId,
          // HTTP agents (a later issue) will be listed beside the sockets.
          connections: { socket: sockets.map(connectionView), http: [] },
          ...queue,
          max_queue: record.maxQueue,
          accepted: t.accepted,
          answered: t.answered,
          failed: t.failed,
          tokens: t.tokens,
          time_to_first_token_ms: percentiles(t.ttft),
          time_to_reply_ms: percentiles(t.reply),
          open_events: open.map(eventView),
          recent_failures: failures.map(eventView),
          latency: {
            minute: starts.map(iso),
            first_token_p50: latency('ttft', 0.5),
            first_token_p95: latency('ttft', 0.95),
            reply_p50: latency('reply', 0.5),
            reply_p95: latency('reply', 0.95),
          },
        },
      };
    },
  };
}
