import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { runFanOutSuite } from './fanout.ts';
import { runHttpSuite } from './http.ts';
import { runProducerSuite } from './producer-api.ts';
import { markdownReport, type SuiteResult, updateDocs, writeJson } from './report.ts';
import { benchServerKind } from './server.ts';
import { runStoreSuite } from './store.ts';

/**
 * `pnpm bench` runs every suite, `pnpm bench <name> …` the named ones. Each prints its table,
 * writes bench/results/<name>.json and refreshes its block in docs/benchmarks.md. A new suite is
 * one entry here.
 */
const SUITES: Record<string, () => Promise<SuiteResult>> = {
  store: runStoreSuite,
  http: runHttpSuite,
  fanout: runFanOutSuite,
  producer: runProducerSuite,
};

function environment(): Record<string, string> {
  const redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  return {
    node: process.version,
    redis: /v=(\S+)/.exec(redis)?.[1] ?? 'unknown',
    cpus: `${cpus().length}× ${cpus()[0]?.model.trim() ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    server: benchServerKind(),
  };
}

async function main(): Promise<void> {
  const requested = process.argv.slice(2);
  const unknown = requested.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown suite ${unknown.join(', ')}; suites: ${Object.keys(SUITES).join(', ')}`,
    );
  }
  const names = requested.length > 0 ? requested : Object.keys(SUITES);
  const env = environment();
  for (const name of names) {
    const suite = SUITES[name] as () => Promise<SuiteResult>;
    console.log(`\n## ${name}: running…`);
    const result = await suite();
    const report = markdownReport(result, env);
    console.log(`\n### ${result.title}\n\n${report}\n`);
    console.log(`results: ${await writeJson(result, env)}`);
    if (await updateDocs(name, report)) console.log('docs/benchmarks.md updated');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
