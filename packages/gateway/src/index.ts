export * from './config';
export * from './node';
export * from './ports';
export { createMemoryBackend } from './backends/memory';
export { createContext, type RelayContext } from './relay/context';
export { createRelay, type Relay } from './relay/relay';
export { toRegistryData, readRegistryFile } from './registry-file';
export { generateToken, hashToken } from './tokens';
