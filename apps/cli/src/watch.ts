import {
  createExecstreamClient,
  type ExecstreamClient,
  type ExecutionSnapshot,
  type FollowOptions,
  type FollowUpdate,
  followExecution,
} from '@execstream/client';
import { MultiBar, Presets } from 'cli-progress';
import { exitCodeOf } from './exit-codes.ts';

export interface Output {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface WatchOptions {
  connection: Pick<FollowOptions, 'baseUrl' | 'credentials'>;
  operationId: string;
  cursor: string | null;
  json: boolean;
  maxRetries: number;
}

/** Follows an execution to its end; resolves with the exit code of its outcome. */
export async function watch(options: WatchOptions, output: Output): Promise<number> {
  const view = options.json
    ? new NdjsonView(output)
    : output.stdout.isTTY
      ? new TerminalView(output, options.operationId)
      : new PlainView(output);
  try {
    const end = await followExecution(
      {
        ...options.connection,
        operationId: options.operationId,
        cursor: options.cursor,
        maxRetries: options.maxRetries,
        onRetry: ({ delayMs, error }) => view.retrying(delayMs, error?.message ?? null),
      },
      (update) => view.update(update),
    );
    // A resumed follow that was told 204 holds no state: ask for it.
    const client: ExecstreamClient = createExecstreamClient(options.connection);
    const snapshot = end.snapshot ?? (await client.get(options.operationId));
    view.finish(snapshot);
    return exitCodeOf(snapshot.status);
  } finally {
    view.close();
  }
}

interface View {
  update(update: FollowUpdate): void;
  retrying(delayMs: number, reason: string | null): void;
  finish(snapshot: ExecutionSnapshot): void;
  close(): void;
}

/** `--json`: every envelope as the server sent it, one per line. */
class NdjsonView implements View {
  constructor(readonly output: Output) {}
  update({ envelope }: FollowUpdate) {
    this.output.stdout.write(`${JSON.stringify(envelope)}\n`);
  }
  retrying(delayMs: number, reason: string | null) {
    this.output.stderr.write(`reconnecting in ${delayMs} ms${reason ? ` (${reason})` : ''}\n`);
  }
  finish() {}
  close() {}
}

function outcomeLine(snapshot: ExecutionSnapshot): string {
  if (snapshot.status === 'completed') {
    return `completed${snapshot.result?.summary ? `: ${snapshot.result.summary}` : ''}`;
  }
  if (snapshot.status === 'failed' && snapshot.error) {
    return `failed: ${snapshot.error.code}: ${snapshot.error.message}`;
  }
  return snapshot.status;
}

/** Lines the timeline adds since `shown` entries. */
function newTimelineLines(snapshot: ExecutionSnapshot, shown: number): string[] {
  return snapshot.timeline.slice(shown).map((entry) => {
    const time = entry.ts.slice(11, 19);
    const level = entry.level && entry.level !== 'info' ? ` [${entry.level}]` : '';
    return `${time}${level} ${entry.message}${entry.txHash ? ` (tx ${entry.txHash})` : ''}`;
  });
}

/** Not a terminal, no `--json`: the timeline and status changes as plain lines. */
class PlainView implements View {
  #shown = 0;
  #status: string | null = null;
  constructor(readonly output: Output) {}
  update({ snapshot, replaced }: FollowUpdate) {
    if (!snapshot) return;
    if (replaced) this.#shown = Math.min(this.#shown, snapshot.timeline.length);
    for (const line of newTimelineLines(snapshot, this.#shown)) {
      this.output.stdout.write(`${line}\n`);
    }
    this.#shown = snapshot.timeline.length;
    if (snapshot.status !== this.#status) {
      this.#status = snapshot.status;
      this.output.stdout.write(`status: ${snapshot.status}\n`);
    }
  }
  retrying(delayMs: number, reason: string | null) {
    this.output.stderr.write(`reconnecting in ${delayMs} ms${reason ? ` (${reason})` : ''}\n`);
  }
  finish(snapshot: ExecutionSnapshot) {
    this.output.stdout.write(`${outcomeLine(snapshot)}\n`);
  }
  close() {}
}

// " 100% | " and the longest status, "reconnecting in 10 s".
const BAR_TEXT = 8 + 20;

/** The bar's width: 30 columns, less on a narrow terminal, never under 10. */
export function barSize(columns: number | undefined): number {
  return Math.max(10, Math.min(30, (columns ?? 80) - BAR_TEXT));
}

/** A terminal: the timeline scrolling above a live progress bar. */
class TerminalView implements View {
  readonly #bars: MultiBar;
  readonly #bar: ReturnType<MultiBar['create']>;
  #shown = 0;

  constructor(
    readonly output: Output,
    operationId: string,
  ) {
    this.#bars = new MultiBar(
      {
        stream: output.stdout,
        // What matters first, so a narrow terminal (which cuts the line) keeps the percent and
        // the status: the bar, then both, then the step. The operation id is a line above.
        format: '{bar} {percentage}% | {status} | {step}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: barSize(output.stdout.columns),
      },
      Presets.shades_classic,
    );
    this.#bars.log(`${operationId}\n`);
    this.#bar = this.#bars.create(100, 0, { status: 'connecting', step: '' });
  }

  update({ snapshot, replaced }: FollowUpdate) {
    if (!snapshot) return;
    if (replaced) this.#shown = Math.min(this.#shown, snapshot.timeline.length);
    for (const line of newTimelineLines(snapshot, this.#shown)) this.#bars.log(`${line}\n`);
    this.#shown = snapshot.timeline.length;
    const percent = snapshot.status === 'completed' ? 100 : (snapshot.progress?.percent ?? 0);
    this.#bar.update(Math.round(percent), {
      status: snapshot.status,
      step: snapshot.progress?.step ?? snapshot.progress?.message ?? '',
    });
  }

  retrying(delayMs: number, reason: string | null) {
    this.#bar.update({ status: `reconnecting in ${Math.ceil(delayMs / 1000)} s` });
    if (reason) this.#bars.log(`${reason}\n`);
  }

  finish(snapshot: ExecutionSnapshot) {
    this.#bar.update({ status: snapshot.status });
    this.#bars.stop();
    this.output.stdout.write(`${outcomeLine(snapshot)}\n`);
  }

  close() {
    this.#bars.stop();
  }
}
