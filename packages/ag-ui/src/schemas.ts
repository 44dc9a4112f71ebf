import {
  CustomEventSchema,
  MessagesSnapshotEventSchema,
  RunAgentInputSchema,
  RunErrorEventSchema,
  RunFinishedEventSchema,
  RunStartedEventSchema,
  StateDeltaEventSchema,
  StateSnapshotEventSchema,
  StepFinishedEventSchema,
  StepStartedEventSchema,
  TextMessageContentEventSchema,
  TextMessageEndEventSchema,
  TextMessageStartEventSchema,
} from '@ag-ui/core/schemas';

/**
 * The `@ag-ui/core` schemas of every event type the stream emits (`AgUiRun`), by type: what an
 * API description of the route names as the `data:` of its frames.
 */
export const AG_UI_STREAM_EVENT_SCHEMAS = {
  RUN_STARTED: RunStartedEventSchema,
  STATE_SNAPSHOT: StateSnapshotEventSchema,
  STATE_DELTA: StateDeltaEventSchema,
  MESSAGES_SNAPSHOT: MessagesSnapshotEventSchema,
  STEP_STARTED: StepStartedEventSchema,
  STEP_FINISHED: StepFinishedEventSchema,
  TEXT_MESSAGE_START: TextMessageStartEventSchema,
  TEXT_MESSAGE_CONTENT: TextMessageContentEventSchema,
  TEXT_MESSAGE_END: TextMessageEndEventSchema,
  CUSTOM: CustomEventSchema,
  RUN_FINISHED: RunFinishedEventSchema,
  RUN_ERROR: RunErrorEventSchema,
} as const;

/** The body a `POST` to the route may carry (what `HttpAgent` sends). */
export { RunAgentInputSchema };
