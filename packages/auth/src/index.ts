export * from './api-keys.ts';
export * from './credentials.ts';
export * from './key-store.ts';
export * from './keys.ts';
export * from './redis-key-store.ts';
export * from './redis-session-store.ts';
export * from './session-store.ts';
export * from './wallet-sessions.ts';
