import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the benchmark asks its publisher process (`publisher.ts`) to do, one at a time. */
export type PublisherCommand =
  | {
      type: 'setup';
      /** Nchan and the bare Node floor take the same publish (`channelTarget`). */
      server: 'nchan' | 'bare' | 'execstream';
      executions: number;
      redisUrl: string;
      /** Where Nchan or the bare Node server listens. */
      port?: number;
    }
  /** `count` warm-up events to every execution, one after another. */
  | { type: 'warm'; count: number }
  | { type: 'run'; rounds: number; ratePerSecond: number }
  | { type: 'close' };

export type PublisherReply =
  | { type: 'ready'; ids: string[] }
  | { type: 'warmed' }
  | { type: 'done'; published: number; elapsedMs: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const HERE = dirname(fileURLToPath(import.meta.url));

/** The publisher process, driven one command at a time. */
export class PublisherProcess implements AsyncDisposable {
  readonly #child: ChildProcess;
  #pending: Promise<unknown> = Promise.resolve();

  constructor() {
    this.#child = fork(join(HERE, 'publisher.ts'), [], {
      execArgv: ['--import', 'tsx'],
      cwd: join(HERE, '..'),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
  }

  /** Sends a command and resolves with its reply; a reply of `error` rejects with its message. */
  ask<T extends PublisherReply['type']>(
    command: PublisherCommand,
  ): Promise<Extract<PublisherReply, { type: T }>> {
    const answer = this.#pending.then(
      () =>
        new Promise<PublisherReply>((resolve, reject) => {
          const onExit = (code: number | null) =>
            reject(new Error(`the publisher exited with ${code} during ${command.type}`));
          this.#child.once('exit', onExit);
          this.#child.once('message', (message: PublisherReply) => {
            this.#child.off('exit', onExit);
            if (message.type === 'error') reject(new Error(`publisher: ${message.message}`));
            else resolve(message);
          });
          this.#child.send(command);
        }),
    );
    this.#pending = answer.catch(() => {});
    return answer as Promise<Extract<PublisherReply, { type: T }>>;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#child.exitCode !== null) return;
    await this.ask({ type: 'close' }).catch(() => {});
    this.#child.disconnect();
    // With its connections closed it exits by itself; one that does not is not waited for.
    const killer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await new Promise((resolve) => {
      if (this.#child.exitCode !== null) resolve(null);
      else this.#child.once('exit', resolve);
    });
    clearTimeout(killer);
  }
}
