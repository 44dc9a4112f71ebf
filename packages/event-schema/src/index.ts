export * from './cursor.ts';
export * from './envelope.ts';
export * from './ids.ts';
export * from './payloads.ts';
export * from './reducer.ts';
export * from './sse.ts';
export * from './status.ts';
