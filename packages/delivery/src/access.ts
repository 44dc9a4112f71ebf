import type { OperationId } from '@execstream/event-schema';
import {
  ExecutionNotFoundError,
  type ExecutionRecord,
  type ExecutionStreams,
} from '@execstream/stream-service';

/**
 * The one owner check of every surface: the record of an execution the caller owns. An
 * execution that does not exist and one owned by someone else throw the same error, built from
 * the same input, so no response tells them apart (CONTRACT §7).
 * @throws ExecutionNotFoundError
 */
export async function getOwnedRecord(
  streams: ExecutionStreams,
  ownerId: string,
  operationId: OperationId,
): Promise<ExecutionRecord> {
  const record = await streams.getRecord(operationId);
  if (!record || record.ownerId !== ownerId) throw new ExecutionNotFoundError(operationId);
  return record;
}
