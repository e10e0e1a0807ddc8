// A newcomer finds any behaviour from the folder names, through each folder's README: every module and subfolder of
// functions/, adapters/, long-runners/ and infra/, down to the second level (`index/handler.ts`, `atproto/mst/`,
// `migrations/0001_appview.sql`), is named in its top folder's README, so a module added (or one whose README line was
// lost) fails here. Deeper ones (record plugins, the in-process Redis's parts) are described by their folder.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const FOLDERS = ['functions', 'adapters', 'long-runners', 'infra'] as const;

/** Files and folders at depth 1 and 2 under `folder`, as paths relative to it (a folder ends with `/`). */
function modules(folder: string): string[] {
  const out: string[] = [];
  const visit = (rel: string, depth: number) => {
    for (const entry of readdirSync(join(ROOT, folder, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        out.push(`${path}/`);
        if (depth < 2) visit(path, depth + 1);
      } else if (!entry.name.endsWith('.md')) {
        out.push(path);
      }
    }
  };
  visit('', 1);
  return out;
}

/** How the README names it: a file by its name (`handler.ts`), a folder by its name and a slash (`plugins/`). */
const nameOf = (path: string) => (path.endsWith('/') ? `${path.slice(0, -1).split('/').pop()!}/` : path.split('/').pop()!);

describe('folder READMEs', () => {
  for (const folder of FOLDERS) {
    it(`${folder}/README.md names every module and subfolder of ${folder}/ to the second level`, () => {
      const readme = readFileSync(join(ROOT, folder, 'README.md'), 'utf8');
      const unnamed = modules(folder).filter((path) => !readme.includes(nameOf(path)));
      expect(unnamed).toEqual([]);
    });
  }
});
