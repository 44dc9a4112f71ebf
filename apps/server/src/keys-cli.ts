import { runKeysCommand } from './keys-command.ts';

/** `pnpm --filter @execstream/server keys …` (the logic is shared with `execstream keys`). */
runKeysCommand(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keys: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
