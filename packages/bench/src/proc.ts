import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** CPU time in ms (user, system) and resident memory in KiB. */
export interface ProcessStats {
  user: number;
  system: number;
  rss: number;
}

// Clock ticks per second of /proc/<pid>/stat's times (100 on every Linux we run on, but asked).
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** The pids of a process and every descendant (nginx's master and its worker), from /proc. */
async function processTree(pid: number): Promise<number[]> {
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) {
    const parent = tree[index] as number;
    const tasks = await readdir(`/proc/${parent}/task`).catch(() => []);
    for (const task of tasks) {
      const children = await readFile(`/proc/${parent}/task/${task}/children`, 'utf8').catch(
        () => '',
      );
      for (const child of children.split(' ')) if (child.trim()) tree.push(Number(child));
    }
  }
  return tree;
}

/**
 * CPU and RSS of a server's whole process tree, summed, from /proc: what the server costs,
 * whatever its process model. A process that ended between listing and reading counts nothing.
 */
export async function treeStats(pid: number): Promise<ProcessStats> {
  const total: ProcessStats = { user: 0, system: 0, rss: 0 };
  for (const member of await processTree(pid)) {
    const stat = await readFile(`/proc/${member}/stat`, 'utf8').catch(() => null);
    const status = await readFile(`/proc/${member}/status`, 'utf8').catch(() => null);
    if (stat === null || status === null) continue;
    // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    total.user += Number(fields[11]) * TICK_MS;
    total.system += Number(fields[12]) * TICK_MS;
    total.rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return total;
}
