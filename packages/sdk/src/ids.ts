/**
 * A random id, unique enough to serve as an idempotency key across processes (a UUID where the
 * platform has `crypto.randomUUID`, which Node 20 and browsers on secure origins do).
 */
export function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let id = '';
  for (let i = 0; i < 4; i++) id += Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return id;
}
