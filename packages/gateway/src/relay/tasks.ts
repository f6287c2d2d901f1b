import { ErrorCode } from '@relay/protocol';
import type { Task } from '../ports';
import type { RelayContext } from './context';
import { dispatched } from './delivery';
import { expireToken } from './kick';
import { finishWithError } from './lifecycle';
import { retryDelay } from './retry';
import { tryWebhook } from './webhooks';

/** Runs one scheduled task that came due (on whichever node the scheduler chose). */
export async function runTask(ctx: RelayContext, task: Task): Promise<void> {
  const { queue, scheduler } = ctx.backend;
  switch (task.kind) {
    case 'webhook':
      return tryWebhook(ctx, task);
    case 'token-expiry':
      return expireToken(ctx, task.role, task.principalId, task.tokenId);
    case 'release':
      // the rate-limit window an event waited for has come
      return dispatched(ctx, await queue.pump(task.agentId));
    case 'retry':
      // The safety net while events wait: pump again, backing off, until none is left.
      await dispatched(ctx, await queue.pump(task.agentId));
      if ((await queue.waiting(task.agentId)) === 0) return;
      return scheduler.at(Date.now() + retryDelay(task.attempt + 1), { ...task, attempt: task.attempt + 1 });
    case 'expire': {
      const removed = await queue.remove(task.agentId, task.eventId, true);
      if (removed.was === 'waiting') await finishWithError(ctx, task.eventId, ErrorCode.EVENT_EXPIRED);
      // In flight, it is the agent's: but if that agent drops it, it must not wait forever, so
      // look again later (a handed-back event past its expiry is also ended by the detach).
      if (removed.was === 'in-flight') await scheduler.at(Date.now() + ctx.limits.replyTimeoutMs, task);
      return dispatched(ctx, removed);
    }
  }
}
