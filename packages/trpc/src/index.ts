export { createContextFactory, type ExecutionsContext } from './context.ts';
export { toTRPCError } from './errors.ts';
export {
  type AppRouter,
  createAppRouter,
  type ExecutionRunner,
  type ExecutionsRouterOptions,
} from './router.ts';
