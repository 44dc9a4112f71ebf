#!/usr/bin/env node
// The execstream CLI, run from its TypeScript sources like the server's `pnpm start`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
const code = await main(process.argv.slice(2));
// Exit once what was written has been flushed (stdout may be a pipe).
process.stdout.write('', () => process.exit(code));
