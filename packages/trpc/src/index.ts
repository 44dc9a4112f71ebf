export { createContextFactory, type ExecutionsContext, type PrincipalOf } from './context.ts';
export { limitResponseMeta, toTRPCError } from './errors.ts';
export { MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH } from './params.ts';
export {
  type AppRouter,
  createAppRouter,
  type ExecutionRunner,
  type ExecutionsRouterOptions,
} from './router.ts';
export {
  createStreamRoute,
  STREAM_PROCEDURE,
  type SubscriptionPrincipalOf,
  type TrpcStreamRoute,
  type TrpcStreamRouteOptions,
} from './stream-route.ts';
