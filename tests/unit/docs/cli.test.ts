// README.md's "Running it" against the `skytide` command itself (long-runners/cli/main.ts): every command its switch
// dispatches is shown in its block and every option its parser takes is named in it, so a command or flag added without a word for
// operators, or one the README shows that the command no longer has, fails here.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = readFileSync(join(ROOT, 'long-runners/cli/main.ts'), 'utf8');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** README.md's "Running it" section, up to its first subsection. */
function runningSection(): string {
  const start = README.indexOf('## Running it\n');
  expect(start).toBeGreaterThan(-1);
  return README.slice(start, README.indexOf('\n### ', start));
}

/** The section's fenced block: one `skytide ...` line per command. */
function runningBlock(): string {
  const section = runningSection();
  const open = section.indexOf('```sh\n');
  expect(open).toBeGreaterThan(-1);
  return section.slice(open, section.indexOf('```\n', open + 6));
}

/** The commands main()'s switch dispatches (`case 'run':`). */
function commands(): string[] {
  const body = MAIN.slice(MAIN.indexOf('switch (command)'));
  return [...body.matchAll(/case '([a-z-]+)':/g)].map((m) => m[1]!);
}

/** The long options parseArgs takes (`only: { type: 'string' }`, `'idle-ms': { ... }`). */
function options(): string[] {
  const start = MAIN.indexOf('options: {', MAIN.indexOf('parseArgs({'));
  const block = MAIN.slice(start, MAIN.indexOf('},\n    });', start));
  return [...block.matchAll(/'?([a-z][a-z-]*)'?: \{ type:/g)].map((m) => m[1]!);
}

describe('README "Running it"', () => {
  it('shows every skytide command, and none the command lacks', () => {
    const block = runningBlock();
    expect(commands().length).toBeGreaterThan(5);
    expect(commands().filter((c) => !new RegExp(`^skytide ${c}\\b`, 'm').test(block))).toEqual([]);
    const shown = [...block.matchAll(/^skytide ([a-z][a-z-]*)/gm)].map((m) => m[1]!);
    expect(shown.filter((c) => !commands().includes(c))).toEqual([]);
  });

  it('names every option the command takes', () => {
    const section = runningSection();
    expect(options().length).toBeGreaterThan(5);
    expect(options().filter((o) => !section.includes(`--${o}`))).toEqual([]);
  });
});
