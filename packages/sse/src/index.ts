export * from './http-error.ts';
export * from './route.ts';
