import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs to stdout. Payloads and token secrets are never passed to the logger;
 * the redaction list is a second line of defence for fields that must never appear.
 */
export function createLogger(level: string, nodeId: string, pretty = false): Logger {
  return pino({
    level,
    base: { node: nodeId },
    redact: { paths: ['token', 'payload', '*.token', '*.payload', 'authorization'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { destination: 1 } } } : {}),
  });
}
