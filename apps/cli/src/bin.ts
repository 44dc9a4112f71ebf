#!/usr/bin/env node
// `execstream`: the package's bin, built to dist/bin.mjs (plain JavaScript, run by node).
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
// Exit once what was written has been flushed (stdout may be a pipe).
process.stdout.write('', () => process.exit(code));
