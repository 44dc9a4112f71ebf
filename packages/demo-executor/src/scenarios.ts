import type { ExecutionType } from '@execstream/event-schema';
import type { Action, Step } from './plan.ts';
import type { SeededRandom } from './random.ts';

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

/** Steps with demo pacing: a pause of 0.4–1.2 s before each, as real chains and wallets take. */
class PlanBuilder {
  readonly steps: Step[] = [];
  constructor(readonly random: SeededRandom) {}

  add(action: Action, delayMs = Math.round(this.random.between(400, 1200))): this {
    this.steps.push({ delayMs, action });
    return this;
  }

  timeline(message: string, fields: Extract<Action, { kind: 'timeline' }>['fields'] = {}): this {
    return this.add({ kind: 'timeline', message, fields });
  }

  progress(percent: number, step: string, message?: string): this {
    return this.add({
      kind: 'progress',
      percent,
      fields: message === undefined ? { step } : { step, message },
    });
  }

  /** A transaction: submitted with its hash, then confirmations with progress. */
  transaction(step: string, label: string, chainId: number, from: number, to: number): string {
    const txHash = this.random.txHash();
    this.timeline(`${label} submitted onchain`, { step, txHash, chainId });
    const confirmations = 3;
    for (let index = 1; index <= confirmations; index++) {
      this.progress(
        Math.round(from + ((to - from) * index) / confirmations),
        step,
        `${label}: ${index} of ${confirmations} confirmations`,
      );
    }
    return txHash;
  }

  /** Sometimes the RPC node times out: a retryable error, then the retry. */
  maybeRetry(step: string): this {
    if (!this.random.chance(0.25)) return this;
    this.add({
      kind: 'retrying',
      error: {
        code: 'RPC_TIMEOUT',
        message: 'The RPC node did not answer in time; retrying',
        details: { step },
      },
    });
    return this.add({ kind: 'start', reason: 'Retrying' });
  }

  /** Sometimes the market moves too far: the run fails for good. True when it did. */
  maybeFail(step: string): boolean {
    if (!this.random.chance(0.1)) return false;
    this.add({
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

function swap(plan: PlanBuilder): void {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const sell = random.pick(TOKENS);
  const buy = random.pick(TOKENS.filter((token) => token !== sell));
  const usd = random.integer(50, 5_000);
  const sellAmount = amount(usd, sell.usd);
  const quoted = amount(usd * 0.997, buy.usd);
  plan.add({ kind: 'start', reason: 'Swap started' });
  plan.timeline(`Quote: ${sellAmount} ${sell.symbol} → ${quoted} ${buy.symbol} on ${chain.name}`, {
    step: 'quote',
    chainId: chain.id,
    data: { sellToken: sell.symbol, buyToken: buy.symbol, sellAmount, quotedAmount: quoted },
  });
  plan.progress(15, 'quote');
  plan.timeline(`Approval needed for ${sell.symbol}`, { step: 'approval', chainId: chain.id });
  plan.add({ kind: 'awaitUser', reason: `Sign the ${sell.symbol} approval in your wallet` });
  plan.add({ kind: 'start', reason: 'Approval signed' }, Math.round(random.between(1500, 3000)));
  plan.transaction('approval', 'Approval', chain.id, 20, 35);
  plan.maybeRetry('submit');
  const txHash = plan.transaction('swap', 'Swap', chain.id, 50, 95);
  if (plan.maybeFail('swap')) return;
  const received = amount(usd * random.between(0.994, 0.998), buy.usd);
  plan.add({
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

function bridge(plan: PlanBuilder): void {
  const { random } = plan;
  const source = random.pick(CHAINS);
  const target = random.pick(CHAINS.filter((chain) => chain !== source));
  const sent = String(random.integer(100, 10_000));
  plan.add({ kind: 'start', reason: 'Bridge started' });
  plan.timeline(`Route: ${sent} USDC from ${source.name} to ${target.name}`, {
    step: 'route',
    data: { fromChainId: source.id, toChainId: target.id, amount: sent },
  });
  plan.progress(10, 'route');
  plan.maybeRetry('deposit');
  const sourceTx = plan.transaction('deposit', 'Deposit', source.id, 15, 45);
  plan.timeline(`Waiting for the relayer on ${target.name}`, { step: 'relay' });
  plan.progress(60, 'relay', 'Relaying');
  plan.progress(75, 'relay', 'Relayed');
  if (plan.maybeFail('relay')) return;
  const targetTx = plan.transaction('release', 'Release', target.id, 80, 95);
  const received = (Number(sent) * 0.999).toFixed(2);
  plan.add({
    kind: 'complete',
    output: { amountSent: sent, amountReceived: received, sourceTx, targetTx },
    summary: `Bridged ${sent} USDC to ${target.name}, received ${received}`,
  });
}

function rebalance(plan: PlanBuilder): void {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const trades = random.integer(2, 3);
  plan.add({ kind: 'start', reason: 'Rebalance started' });
  plan.timeline('Portfolio drifted from its target weights', {
    step: 'analyse',
    data: { targetWeights: { ETH: 0.5, USDC: 0.3, WBTC: 0.2 } },
  });
  plan.progress(10, 'analyse');
  const txHashes: string[] = [];
  for (let trade = 1; trade <= trades; trade++) {
    const from = 10 + ((trade - 1) * 80) / trades;
    plan.maybeRetry(`trade-${trade}`);
    txHashes.push(
      plan.transaction(
        `trade-${trade}`,
        `Trade ${trade} of ${trades}`,
        chain.id,
        from,
        from + 80 / trades,
      ),
    );
  }
  if (plan.maybeFail('rebalance')) return;
  plan.add({
    kind: 'complete',
    output: { trades, txHashes, chainId: chain.id },
    summary: `Rebalanced with ${trades} trades`,
  });
}

function withdraw(plan: PlanBuilder): void {
  const { random } = plan;
  const chain = random.pick(CHAINS);
  const token = random.pick(TOKENS);
  const withdrawn = amount(random.integer(20, 2_000), token.usd);
  plan.add({ kind: 'start', reason: 'Withdrawal started' });
  plan.timeline(`Checking the ${token.symbol} balance`, { step: 'validate', chainId: chain.id });
  plan.progress(20, 'validate');
  plan.maybeRetry('withdraw');
  const txHash = plan.transaction('withdraw', 'Withdrawal', chain.id, 40, 95);
  if (plan.maybeFail('withdraw')) return;
  plan.add({
    kind: 'complete',
    output: { token: token.symbol, amount: withdrawn, txHash, chainId: chain.id },
    summary: `Withdrew ${withdrawn} ${token.symbol}`,
  });
}

const SCENARIOS: Record<ExecutionType, (plan: PlanBuilder) => void> = {
  swap,
  bridge,
  rebalance,
  withdraw,
};

/** A realistic run of an execution type, drawn from `random` (seeded by the operation id). */
export function scenarioPlan(type: ExecutionType, random: SeededRandom): Step[] {
  const plan = new PlanBuilder(random);
  SCENARIOS[type](plan);
  return plan.steps;
}
