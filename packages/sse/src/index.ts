export * from './finish.ts';
export * from './http-error.ts';
export * from './route.ts';
export * from './serve.ts';
export * from './stream-options.ts';
