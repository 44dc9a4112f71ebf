import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One row of a results table: a measure and its value for each column (a backend). */
export interface Measure {
  label: string;
  /** Shown after the label, e.g. `events/s`, `ms`; none when empty. */
  unit: string;
  /**
   * `null` where the measure does not apply to that column; text for a cell that holds several
   * figures (its legend belongs in the notes).
   */
  values: Record<string, number | string | null>;
}

/** What a suite hands back to the runner, which prints and stores it. */
export interface SuiteResult {
  suite: string;
  title: string;
  /** The columns of the table, in order. */
  columns: string[];
  measures: Measure[];
  /** Setup facts printed under the table (sizes, server settings). */
  notes: string[];
  /**
   * How to run it again, when more than `pnpm bench <suite>` (a selection in the environment).
   * @default `pnpm bench <suite>`
   */
  command?: string;
  /**
   * The heading of the table's first column.
   * @default 'measure'
   */
  rowHeader?: string;
  /** The raw measurements behind the table, kept in the JSON results only. */
  data?: unknown;
}

/** The repository root: results and docs are written relative to it. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The `p`-th percentile (0..100) of ascending `sorted` values, nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function formatNumber(value: number | string | null): string {
  if (value === null) return '–';
  if (typeof value === 'string') return value;
  if (Number.isInteger(value) || Math.abs(value) >= 100) {
    return Math.round(value).toLocaleString('en-US');
  }
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * The table with its columns padded (labels left, numbers right), as the repository's formatter
 * lays markdown tables out, so a refreshed docs/benchmarks.md needs no reformatting.
 */
export function markdownTable(result: SuiteResult): string {
  const rows = [
    [result.rowHeader ?? 'measure', ...result.columns],
    ...result.measures.map((measure) => [
      measure.unit === '' ? measure.label : `${measure.label} (${measure.unit})`,
      ...result.columns.map((column) => formatNumber(measure.values[column] ?? null)),
    ]),
  ];
  const widths = rows[0]?.map((_, index) =>
    Math.max(...rows.map((row) => row[index]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    `| ${cells
      .map((cell, index) => {
        const width = widths?.[index] ?? 0;
        return index === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join(' | ')} |`;
  const rule = `| ${widths?.map((width, index) => (index === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  const [header, ...body] = rows as [string[], ...string[][]];
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** The markdown block for a suite: command, table, notes. Also what docs/benchmarks.md holds. */
export function markdownReport(result: SuiteResult, environment: Record<string, string>): string {
  const facts = Object.entries(environment).map(([key, value]) => `${key} ${value}`);
  return [
    `Command: \`${result.command ?? `pnpm bench ${result.suite}`}\``,
    '',
    markdownTable(result),
    '',
    ...result.notes.map((note) => `- ${note}`),
    `- Machine: ${facts.join(', ')}.`,
  ].join('\n');
}

/** Writes `bench/results/<suite>.json` (the latest run; earlier runs live in git history). */
export async function writeJson(
  result: SuiteResult,
  environment: Record<string, string>,
): Promise<string> {
  const path = join(REPO_ROOT, 'bench/results', `${result.suite}.json`);
  await mkdir(dirname(path), { recursive: true });
  const body = { ...result, ranAt: new Date().toISOString(), environment };
  await writeFile(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}

/**
 * Replaces the block between `<!-- bench:<suite>:begin -->` and `<!-- bench:<suite>:end -->` in
 * docs/benchmarks.md with the latest report, so the doc always shows the last run. Returns false
 * when the doc has no such markers (nothing is written then).
 */
export async function updateDocs(suite: string, report: string): Promise<boolean> {
  const path = join(REPO_ROOT, 'docs/benchmarks.md');
  const doc = await readFile(path, 'utf8').catch(() => null);
  const begin = `<!-- bench:${suite}:begin -->`;
  const end = `<!-- bench:${suite}:end -->`;
  if (doc === null || !doc.includes(begin) || !doc.includes(end)) return false;
  const before = doc.slice(0, doc.indexOf(begin) + begin.length);
  const after = doc.slice(doc.indexOf(end));
  await writeFile(path, `${before}\n${report}\n${after}`);
  return true;
}
