// A database of its own for each @atproto/dev-env network. dev-env's kysely migrators introspect every schema of the
// database they run in; in the shared test database another test file may drop its schema meanwhile, and the
// introspection then fails ("relation does not exist") and takes the network's start-up with it. A private database
// has nobody else's schemas to trip over.
import postgres from 'postgres';
import { TEST_DATABASE_URL } from './services.ts';

export interface DevEnvDatabase {
  /** The private database's URL, without query parameters (dev-env appends its own). */
  url: string;
  drop(): Promise<void>;
}

export async function createDevEnvDatabase(prefix: string): Promise<DevEnvDatabase> {
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
