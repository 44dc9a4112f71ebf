// `pnpm test` runs this first. The tests start real programs and fail (never skip) without
// them, so a missing one is named here, in one line, with the command that installs it.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// [program, Debian/Ubuntu package, Homebrew formula]
const NEEDED = [
  ['redis-server', 'redis-server', 'redis'],
  ['redis-cli', 'redis-server', 'redis'],
  ['tmux', 'tmux', 'tmux'],
  // The browser tests drive Debian's build at /usr/bin/chromium.
  ['chromium', 'chromium', '--cask chromium'],
];

function onPath(program) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = NEEDED.filter(([program]) => !onPath(program));
if (missing.length > 0) {
  const unique = (values) => [...new Set(values)].join(' ');
  const install =
    process.platform === 'darwin'
      ? `brew install ${unique(missing.map(([, , formula]) => formula))}`
      : `sudo apt-get install -y ${unique(missing.map(([, apt]) => apt))}`;
  process.stderr.write(
    `pnpm test needs ${missing.map(([program]) => program).join(', ')} on PATH; install: ${install}\n`,
  );
  process.exit(1);
}
