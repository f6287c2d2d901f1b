export * from './codes';
export * from './limits';
export * from './session-key';
export * from './frames';
export * from './parse';
export { rawMember } from './raw-json';
export * from './webhook-signature';
export * from './http';
