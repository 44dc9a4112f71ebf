// `pnpm test` runs this first. The tests start real programs and fail (never skip) without
// them. On a Debian-like machine as root, what is missing is installed with apt-get (said
// first, so nobody wonders why a test command touches the system); elsewhere the missing
// programs are named in one line with the command that installs them.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/**
 * What the tests run, how to find it, and where it comes from.
 * `find` is a program looked up on PATH, or an absolute file; `sbin` programs are also looked
 * up in the system directories, which a non-root PATH often lacks.
 */
const NEEDED = [
  { name: 'redis-server', find: 'redis-server', apt: 'redis-server', brew: 'redis' },
  { name: 'redis-cli', find: 'redis-cli', apt: 'redis-server', brew: 'redis' },
  { name: 'tmux', find: 'tmux', apt: 'tmux', brew: 'tmux' },
  // The browser tests drive Debian's build at /usr/bin/chromium.
  { name: 'chromium', find: 'chromium', apt: 'chromium', brew: '--cask chromium' },
  // The docs' runnable examples are curl commands.
  { name: 'curl', find: 'curl', apt: 'curl', brew: 'curl' },
  // The fan-out benchmark runs Nchan (an nginx module) beside the server; its smoke test is
  // part of `pnpm test` so the harness cannot rot.
  { name: 'nginx', find: 'nginx', apt: 'nginx-light', brew: 'nginx', sbin: true },
  { name: 'nchan', find: NCHAN_MODULE, apt: 'libnginx-mod-nchan', brew: 'nginx-full' },
  // The example worker in Python (standard library only) is driven by a test.
  { name: 'python3', find: 'python3', apt: 'python3', brew: 'python' },
];

// Where apt installs programs.
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function found({ find, sbin }, dirs) {
  if (find.startsWith('/')) return existsSync(find);
  return [...dirs, ...(sbin ? SYSTEM_DIRS : [])].some(
    (dir) => dir !== '' && executable(join(dir, find)),
  );
}

const pathDirs = (process.env.PATH ?? '').split(delimiter);
const missingFrom = (dirs) => NEEDED.filter((need) => !found(need, dirs));
const unique = (values) => [...new Set(values)];

let missing = missingFrom(pathDirs);

const canApt =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  existsSync('/etc/debian_version') &&
  pathDirs.some((dir) => dir !== '' && executable(join(dir, 'apt-get')));

if (missing.length > 0 && canApt) {
  const packages = unique(missing.map((need) => need.apt));
  process.stderr.write(
    `pnpm test: installing ${packages.join(' ')} with apt-get (missing: ${missing.map((need) => need.name).join(', ')})\n`,
  );
  const apt = (args) =>
    spawnSync('apt-get', args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  // A fresh machine's package lists may be empty or stale: refresh only when needed.
  if (!apt(['install', '-y', '-q', ...packages])) {
    apt(['update', '-q']);
    apt(['install', '-y', '-q', ...packages]);
  }
  missing = missingFrom([...pathDirs, ...SYSTEM_DIRS]);
}

if (missing.length > 0) {
  const install =
    process.platform === 'darwin'
      ? `brew install ${unique(missing.map((need) => need.brew)).join(' ')}`
      : `sudo apt-get install -y ${unique(missing.map((need) => need.apt)).join(' ')}`;
  process.stderr.write(
    `pnpm test needs ${missing.map((need) => need.name).join(', ')}; install: ${install}\n`,
  );
  process.exit(1);
}
