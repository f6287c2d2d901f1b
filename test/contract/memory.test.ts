import { createMemoryDeliveryQueue } from '../../packages/gateway/src/backends/memory/delivery-queue';
import { deliveryQueueContract } from './delivery-queue.contract';

deliveryQueueContract('memory', async () => ({ queue: createMemoryDeliveryQueue(), teardown: async () => {} }));
