// A database of its own, for what must not share the test database with other files running at the same time:
// - @atproto/dev-env networks: their kysely migrators introspect every schema of their database, and another file
//   dropping its schema meanwhile makes that fail ("relation does not exist") and takes the network's start-up with it;
// - a test holding a database-wide lock (advisory locks are per database), which would stall every other file.
import postgres from 'postgres';
import { TEST_DATABASE_URL } from './services.ts';

export interface ScratchDatabase {
  /** The private database's URL, without query parameters (dev-env appends its own). */
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.search = '';
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        // FORCE: the network's pools may still hold idle connections a moment after close().
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
