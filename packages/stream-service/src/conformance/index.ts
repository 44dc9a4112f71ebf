import { describe } from 'vitest';
import { cancelRules } from './cancel.ts';
import { creationAndAppendRules } from './creation-and-append.ts';
import { handoverRules } from './handover.ts';
import { lifecycleRules } from './lifecycle.ts';
import { unfinishedLimitRules } from './limits.ts';
import { producerApiRules } from './producer-api.ts';
import { subscribeRules } from './subscribe.ts';
import { tailRules } from './tail.ts';
import type { ConformanceTarget } from './target.ts';

export type { ConformanceServiceOptions, ConformanceTarget } from './target.ts';

/**
 * The conformance suite: every rule of CONTRACT §3–§4 as tests, run against any backend. The
 * memory and Redis backends (single node and cluster) each call it with their own factory.
 */
export function describeConformance(target: ConformanceTarget): void {
  describe(`ExecutionStreams conformance: ${target.name}`, () => {
    creationAndAppendRules(target);
    subscribeRules(target);
    tailRules(target);
    lifecycleRules(target);
    unfinishedLimitRules(target);
    cancelRules(target);
    handoverRules(target);
    producerApiRules(target);
  });
}
