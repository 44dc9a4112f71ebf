import {
  SequenceConflictError,
  StoreUnavailableError,
  TooManyExecutionsError,
} from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { httpErrorOf } from '../src/index.ts';

describe('httpErrorOf', () => {
  it('says nothing internal: no sequence numbers of a conflict, no words of the store', () => {
    expect(httpErrorOf(new SequenceConflictError(809, 810))).toEqual({
      status: 409,
      code: 'SEQUENCE_CONFLICT',
      message: 'The execution changed meanwhile; retry',
    });
    expect(httpErrorOf(new StoreUnavailableError('Redis is unavailable: ECONNRESET'))).toEqual({
      status: 503,
      code: 'STORE_UNAVAILABLE',
      message: 'The execution store is unavailable; retry',
    });
  });

  it('answers too many executions with 429', () => {
    expect(httpErrorOf(new TooManyExecutionsError(3, 5))).toMatchObject({
      status: 429,
      code: 'TOO_MANY_EXECUTIONS',
    });
  });
});
