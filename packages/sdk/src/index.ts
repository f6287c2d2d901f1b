export { createAppClient, type AppClient, type AppClientEvents, type AgentInfo, type SendOptions } from './app-client';
export { createAgentClient, type AgentClient, type AgentClientEvents, type AgentClientOptions, type EventHandler } from './agent-client';
export type { Reply, ReplyOptions, ReplySent } from './agent-reply';
export { createHttpAgentHandler, type FetchHandler } from './http-agent-handler';
export type { EventHandle, FinalOutcome } from './event-handle';
export type { StreamedToken } from './token-stream';
export { endpointUrl, type ClientOptions, type ConnectionState, type HeartbeatOptions, type StateChange } from './connection';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { ClientErrorCode, ErrorCode, RelayError, type RelayErrorCode } from './errors';
export type { TokenPlacement, WebSocketConstructor, WebSocketLike } from './socket';
export type { AgentEventFrame, AppReplyFrame, AcceptedFrame } from '@relay/protocol';
/** For a receiver of the relay's webhooks: checks the Standard Webhooks signature (PROTOCOL.md "App webhooks"). */
export { verifyWebhook, WebhookVerificationError } from '@relay/protocol';
export { createHttpClient, type HttpClient, type HttpClientOptions, type StreamFrame, type StreamOptions } from './http-client';
export { readSse, type SseEvent } from './sse';
