// unixSocketOf: the Unix-socket forms of a libpq URL, turned into what postgres.js reads.
import { describe, expect, it } from 'vitest';
import { unixSocketOf } from '../../../adapters/postgres/socket-url.ts';

describe('unixSocketOf', () => {
  it('reads the directory from the host parameter, with port and user parameters', () => {
    expect(unixSocketOf('postgresql:///index?host=/run/postgresql&port=5433&user=skytide&sslmode=disable')).toEqual({
      url: 'postgresql:///index?sslmode=disable', path: '/run/postgresql/.s.PGSQL.5433', user: 'skytide',
    });
  });

  it('reads a percent-encoded directory as the host, keeping the user before it', () => {
    expect(unixSocketOf('postgres://skytide:secret@%2Fvar%2Frun%2Fpostgresql:5434/index')).toEqual({
      url: 'postgres://skytide:secret@localhost/index', path: '/var/run/postgresql/.s.PGSQL.5434',
    });
  });

  it('defaults the port to 5432 and drops a trailing slash of the directory', () => {
    expect(unixSocketOf('postgres://skytide@localhost/index?host=/tmp/')?.path).toBe('/tmp/.s.PGSQL.5432');
  });

  it('leaves TCP URLs, host lists and non-URLs to postgres.js', () => {
    expect(unixSocketOf('postgres://postgres@127.0.0.1:5432/test')).toBeUndefined();
    expect(unixSocketOf('postgres://postgres@db1:5432,db2:5432/test')).toBeUndefined();
    expect(unixSocketOf('postgres://postgres@localhost/test?host=db.internal')).toBeUndefined();
    expect(unixSocketOf('not a url')).toBeUndefined();
    expect(unixSocketOf('postgresql:///index?host=/run/postgresql&port=abc')).toBeUndefined();
  });
});
