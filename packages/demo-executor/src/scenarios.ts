import type { ExecutionType } from '@execstream/event-schema';
import type { Action, Plan, Step } from './plan.ts';
import { SeededRandom } from './random.ts';

const CHAINS = [
  { id: 1, name: 'Ethereum' },
  { id: 8453, name: 'Base' },
  { id: 42161, name: 'Arbitrum' },
] as const;
const TOKENS = [
  { symbol: 'USDC', usd: 1 },
  { symbol: 'ETH', usd: 3_200 },
  { symbol: 'WBTC', usd: 64_000 },
  { symbol: 'DAI', usd: 1 },
] as const;

/** Steps yielded one at a time, then what the part that made them returns (a hash, a verdict). */
type Steps<T = void> = Generator<Step, T, undefined>;

/** Makes steps with demo pacing: a pause of 0.4–1.2 s before each, as chains and wallets take. */
class Pacing {
  constructor(readonly random: SeededRandom) {}

  step(action: Action, delayMs = Math.round(this.random.between(400, 1200))): Step {
    return { delayMs, action };
  }

  timeline(message: string, fields: Extract<Action, { kind: 'timeline' }>['fields'] = {}): Step {
    return this.step({ kind: 'timeline', message, fields });
  }

  progress(percent: number, step: string, message?: string): Step {
    return this.step({
      kind: 'progress',
      percent,
      fields: message === undefined ? { step } : { step, message },
    });
  }

  /** A transaction: submitted with its hash, then confirmations with progress. Returns the hash. */
  *transaction(
    step: string,
    label: string,
    chainId: number,
    from: number,
    to: number,
  ): Steps<string> {
    const txHash = this.random.txHash();
    yield this.timeline(`${label} submitted onchain`, { step, txHash, chainId });
    const confirmations = 3;
    for (let index = 1; index <= confirmations; index++) {
      yield this.progress(
        Math.round(from + ((to - from) * index) / confirmations),
        step,
        `${label}: ${index} of ${confirmations} confirmations`,
      );
    }
    return txHash;
  }

  /** Sometimes the RPC node times out: a retryable error, then the retry. */
  *maybeRetry(step: string): Steps {
    if (!this.random.chance(0.25)) return;
    yield this.step({
      kind: 'retrying',
      error: {
        code: 'RPC_TIMEOUT',
        message: 'The RPC node did not answer in time; retrying',
        details: { step },
      },
    });
    yield this.step({ kind: 'start', reason: 'Retrying' });
  }

  /** Sometimes the market moves too far: the run fails for good. True when it did. */
  *maybeFail(step: string): Steps<boolean> {
    if (!this.random.chance(0.1)) return false;
    yield this.step({
      kind: 'fail',
      error: {
        code: 'SLIPPAGE_EXCEEDED',
        message: 'The price moved beyond the 0.5% slippage limit',
        details: { step },
      },
    });
    return true;
  }
}

function amount(usd: number, tokenUsd: number): string {
  return (usd / tokenUsd).toFixed(tokenUsd >= 1_000 ? 6 : 2);
}

function* swap(plan: Pacing): Steps {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const sell = random.pick(TOKENS);
  const buy = random.pick(TOKENS.filter((token) => token !== sell));
  const usd = random.integer(50, 5_000);
  const sellAmount = amount(usd, sell.usd);
  const quoted = amount(usd * 0.997, buy.usd);
  yield plan.step({ kind: 'start', reason: 'Swap started' });
  yield plan.timeline(
    `Quote: ${sellAmount} ${sell.symbol} → ${quoted} ${buy.symbol} on ${chain.name}`,
    {
      step: 'quote',
      chainId: chain.id,
      data: { sellToken: sell.symbol, buyToken: buy.symbol, sellAmount, quotedAmount: quoted },
    },
  );
  yield plan.progress(15, 'quote');
  yield plan.timeline(`Approval needed for ${sell.symbol}`, {
    step: 'approval',
    chainId: chain.id,
  });
  yield plan.step({ kind: 'awaitUser', reason: `Sign the ${sell.symbol} approval in your wallet` });
  yield plan.step(
    { kind: 'start', reason: 'Approval signed' },
    Math.round(random.between(1500, 3000)),
  );
  yield* plan.transaction('approval', 'Approval', chain.id, 20, 35);
  yield* plan.maybeRetry('submit');
  const txHash = yield* plan.transaction('swap', 'Swap', chain.id, 50, 95);
  if (yield* plan.maybeFail('swap')) return;
  const received = amount(usd * random.between(0.994, 0.998), buy.usd);
  yield plan.step({
    kind: 'complete',
    output: {
      sellToken: sell.symbol,
      buyToken: buy.symbol,
      sellAmount,
      buyAmount: received,
      txHash,
      chainId: chain.id,
    },
    summary: `Swapped ${sellAmount} ${sell.symbol} for ${received} ${buy.symbol}`,
  });
}

function* bridge(plan: Pacing): Steps {
  const { random } = plan;
  const source = random.pick(CHAINS);
  const target = random.pick(CHAINS.filter((chain) => chain !== source));
  const sent = String(random.integer(100, 10_000));
  yield plan.step({ kind: 'start', reason: 'Bridge started' });
  yield plan.timeline(`Route: ${sent} USDC from ${source.name} to ${target.name}`, {
    step: 'route',
    data: { fromChainId: source.id, toChainId: target.id, amount: sent },
  });
  yield plan.progress(10, 'route');
  yield* plan.maybeRetry('deposit');
  const sourceTx = yield* plan.transaction('deposit', 'Deposit', source.id, 15, 45);
  yield plan.timeline(`Waiting for the relayer on ${target.name}`, { step: 'relay' });
  yield plan.progress(60, 'relay', 'Relaying');
  yield plan.progress(75, 'relay', 'Relayed');
  if (yield* plan.maybeFail('relay')) return;
  const targetTx = yield* plan.transaction('release', 'Release', target.id, 80, 95);
  const received = (Number(sent) * 0.999).toFixed(2);
  yield plan.step({
    kind: 'complete',
    output: { amountSent: sent, amountReceived: received, sourceTx, targetTx },
    summary: `Bridged ${sent} USDC to ${target.name}, received ${received}`,
  });
}

function* rebalance(plan: Pacing): Steps {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const trades = random.integer(2, 3);
  yield plan.step({ kind: 'start', reason: 'Rebalance started' });
  yield plan.timeline('Portfolio drifted from its target weights', {
    step: 'analyse',
    data: { targetWeights: { ETH: 0.5, USDC: 0.3, WBTC: 0.2 } },
  });
  yield plan.progress(10, 'analyse');
  const txHashes: string[] = [];
  for (let trade = 1; trade <= trades; trade++) {
    const from = 10 + ((trade - 1) * 80) / trades;
    yield* plan.maybeRetry(`trade-${trade}`);
    txHashes.push(
      yield* plan.transaction(
        `trade-${trade}`,
        `Trade ${trade} of ${trades}`,
        chain.id,
        from,
        from + 80 / trades,
      ),
    );
  }
  if (yield* plan.maybeFail('rebalance')) return;
  yield plan.step({
    kind: 'complete',
    output: { trades, txHashes, chainId: chain.id },
    summary: `Rebalanced with ${trades} trades`,
  });
}

function* withdraw(plan: Pacing): Steps {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const token = random.pick(TOKENS);
  const withdrawn = amount(random.integer(20, 2_000), token.usd);
  yield plan.step({ kind: 'start', reason: 'Withdrawal started' });
  yield plan.timeline(`Checking the ${token.symbol} balance`, {
    step: 'validate',
    chainId: chain.id,
  });
  yield plan.progress(20, 'validate');
  yield* plan.maybeRetry('withdraw');
  const txHash = yield* plan.transaction('withdraw', 'Withdrawal', chain.id, 40, 95);
  if (yield* plan.maybeFail('withdraw')) return;
  yield plan.step({
    kind: 'complete',
    output: { token: token.symbol, amount: withdrawn, txHash, chainId: chain.id },
    summary: `Withdrew ${withdrawn} ${token.symbol}`,
  });
}

const SCENARIOS: Record<ExecutionType, (plan: Pacing) => Steps> = {
  swap,
  bridge,
  rebalance,
  withdraw,
};

/**
 * A realistic run of an execution type, drawn from a generator seeded with `seed` (the operation
 * id): every iteration starts a fresh generator, so it yields the same steps each time. Values are
 * drawn in the order the steps were once built in as a whole array, so a run started by an older
 * version of this code is resumed by this one step for step.
 */
export function scenarioPlan(type: ExecutionType, seed: string): Plan {
  return { [Symbol.iterator]: () => SCENARIOS[type](new Pacing(new SeededRandom(seed))) };
}
