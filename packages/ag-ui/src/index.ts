export { agUiFraming, encodeAgUiFrames } from './frames.ts';
export {
  type AgUiFrame,
  AgUiRun,
  CANCELLED_CODE,
  currentStep,
  GENERATION_PROGRESS,
  GENERATION_RESULT,
} from './mapping.ts';
export {
  AG_UI_STREAM_PATH,
  type AgUiStreamRoute,
  type AgUiStreamRouteOptions,
  createAgUiStreamRoute,
} from './route.ts';
export { AG_UI_STREAM_EVENT_SCHEMAS, RunAgentInputSchema } from './schemas.ts';
