import {
  type Credentials,
  createExecstreamClient,
  EXECUTION_TYPES,
  ExecstreamError,
  type ExecutionType,
} from '@execstream/client';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT } from './exit-codes.ts';
import { type Output, watch } from './watch.ts';

const DEFAULT_URL = 'http://127.0.0.1:3000';
const DEFAULT_MAX_RETRIES = 10;

interface GlobalOptions {
  url: string;
  apiKey?: string;
  json?: boolean;
}

/** Runs `execstream <argv>` and resolves with its exit code (see exit-codes.ts). */
export async function main(
  argv: string[],
  output: Output = { stdout: process.stdout, stderr: process.stderr },
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('execstream')
    .description('Submit, follow and manage execstream executions.')
    .addOption(
      new Option('--url <url>', 'the server (env: EXECSTREAM_URL)').default(
        env.EXECSTREAM_URL ?? DEFAULT_URL,
      ),
    )
    .option('--api-key <key>', 'an API key (env: EXECSTREAM_API_KEY)')
    .option('--json', 'machine-readable output: JSON, NDJSON envelopes for watch')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout.write(text),
      writeErr: (text) => output.stderr.write(text),
    })
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Exit codes: 0 completed (or success), 1 the execution failed, 2 usage error,
3 the execution was cancelled, 4 the server is unreachable, 5 the server refused.`,
    );

  const connection = () => {
    const options = program.opts<GlobalOptions>();
    const apiKey = options.apiKey ?? env.EXECSTREAM_API_KEY;
    if (!apiKey) throw new UsageError('an API key is required: --api-key or EXECSTREAM_API_KEY');
    const credentials: Credentials = { apiKey };
    return { baseUrl: options.url, credentials };
  };
  const json = () => program.opts<GlobalOptions>().json === true;
  const print = (value: unknown) =>
    output.stdout.write(`${json() ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`);

  const follow = async (operationId: string, cursor: string | null, maxRetries: number) => {
    code = await watch(
      { connection: connection(), operationId, cursor, json: json(), maxRetries },
      output,
    );
  };

  program
    .command('submit')
    .description('submit an execution; prints its operation id')
    .argument('<type>', `one of ${EXECUTION_TYPES.join(', ')}`, executionType)
    .option('--params <json>', 'params, a JSON object', jsonObject)
    .option('--idempotency-key <key>', 'the same key returns the same operation')
    .option('--watch', 'then follow it to its end, exiting with its outcome')
    .option('--max-retries <n>', 'with --watch, as for watch', count, DEFAULT_MAX_RETRIES)
    .action(async (type: ExecutionType, options) => {
      const submitted = await createExecstreamClient(connection()).submit({
        type,
        ...(options.params ? { params: options.params } : {}),
        ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
      });
      // With --watch --json, stdout carries envelopes only: the answer goes to stderr.
      const answer = json() && options.watch ? output.stderr : output.stdout;
      answer.write(`${json() ? JSON.stringify(submitted) : submitted.operationId}\n`);
      if (options.watch) await follow(submitted.operationId, null, options.maxRetries);
    });

  program
    .command('watch')
    .description('follow an execution to its end; exits with its outcome')
    .argument('<operationId>')
    .option('--cursor <cursor>', 'resume after this event (its id:/cursor)')
    .option(
      '--max-retries <n>',
      'consecutive failed attempts to reach the server before giving up',
      count,
      DEFAULT_MAX_RETRIES,
    )
    .action(async (operationId: string, options) => {
      await follow(operationId, options.cursor ?? null, options.maxRetries);
    });

  program
    .command('get')
    .description('print the snapshot of an execution')
    .argument('<operationId>')
    .action(async (operationId: string) => {
      print(await createExecstreamClient(connection()).get(operationId));
    });

  program
    .command('list')
    .description('your executions, newest first')
    .option('--limit <n>', 'how many', count)
    .option('--cursor <cursor>', 'the nextCursor of the previous page')
    .action(async (options) => {
      const page = await createExecstreamClient(connection()).list({
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.cursor ? { cursor: options.cursor } : {}),
      });
      if (json()) {
        print(page);
        return;
      }
      for (const item of page.items) {
        output.stdout.write(
          `${item.operationId}  ${item.type}  ${item.status}  ${item.createdAt}\n`,
        );
      }
      if (page.nextCursor) output.stdout.write(`more: --cursor ${page.nextCursor}\n`);
    });

  program
    .command('cancel')
    .description('cancel an execution; prints its status after the request')
    .argument('<operationId>')
    .action(async (operationId: string) => {
      const snapshot = await createExecstreamClient(connection()).cancel(operationId);
      if (json()) print(snapshot);
      else output.stdout.write(`${snapshot.status}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    return failureCode(error, output);
  }
}

/** A usage error found once the command line parsed (commander reports its own). */
class UsageError extends Error {}

function failureCode(error: unknown, output: Output): number {
  if (error instanceof UsageError) {
    output.stderr.write(`execstream: ${error.message} (execstream --help)\n`);
    return EXIT.usage;
  }
  // Commander has printed its message already (configureOutput above).
  if (error instanceof CommanderError) {
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof ExecstreamError) {
    output.stderr.write(`execstream: ${error.code}: ${error.message}\n`);
    return error.code === 'UNREACHABLE' ? EXIT.unreachable : EXIT.refused;
  }
  throw error;
}

function executionType(value: string): ExecutionType {
  if (!(EXECUTION_TYPES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${EXECUTION_TYPES.join(', ')}`);
  }
  return value as ExecutionType;
}

function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('expected a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}
