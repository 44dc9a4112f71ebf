// The shared contract, bundled in: the types, schemas, reducer and SSE decoder the server uses.
export {
  CURSOR_PATTERN,
  compareCursors,
  type Envelope,
  type EnvelopeOf,
  EnvelopeSchema,
  type ErrorPayload,
  EVENT_KINDS,
  type EventKind,
  EXECUTION_STATUSES,
  EXECUTION_TYPES,
  type ExecutionSnapshot,
  ExecutionSnapshotSchema,
  type ExecutionStatus,
  type ExecutionType,
  foldExecution,
  isCursor,
  isTerminalStatus,
  OPERATION_ID_PATTERN,
  type PayloadOf,
  type ProgressPayload,
  type ResultPayload,
  reduceExecution,
  SseDecoder,
  type SseMessage,
  START_CURSOR,
  type StateChangedPayload,
  snapshotEnvelope,
  type TimelineAppendedPayload,
  type TimelineEntry,
} from '@execstream/event-schema';
/** The tRPC router's type, for `createTRPCClient<AppRouter>` from `@trpc/client`. */
export type { AppRouter } from '@execstream/trpc';
export {
  type ExecutionFollow,
  type FollowEnd,
  type FollowOptions,
  type FollowUpdate,
  followExecution,
} from './follow.ts';
export {
  type ConnectionOptions,
  type Credentials,
  createExecstreamClient,
  type ExecstreamClient,
  ExecstreamError,
  type ExecutionHistory,
  type ExecutionPage,
  type ExecutionSummary,
} from './http.ts';
export {
  type AppendResult,
  type ClaimedRun,
  createProducer,
  type ExecstreamProducer,
  type ProducerEvent,
  type ProducerOptions,
} from './producer.ts';
