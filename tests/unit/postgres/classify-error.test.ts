// Which Postgres errors are an outage (waited out, counted against no entry) and which are a statement's own failure
// (retried, bisected, and in the end counted against the entries that cause it).
import { describe, expect, it } from 'vitest';
import { classifyPostgresError } from '../../../adapters/postgres/client.ts';
import { DependencyError } from '../../../functions/errors.ts';

const withCode = (code: string) => Object.assign(new Error(`error ${code}`), { code });
const isOutage = (code: string) => classifyPostgresError(withCode(code)) instanceof DependencyError;

describe('classifyPostgresError', () => {
  it.each([
    ['ECONNREFUSED', 'socket refused'], ['CONNECTION_CLOSED', 'postgres.js connection closed'], ['08006', 'connection failure'],
    ['53300', 'too many connections'], ['57P01', 'admin shutdown'], ['57P03', 'cannot connect now'], ['57P04', 'database dropped'],
    ['57P05', 'idle session timeout'], ['58030', 'I/O error'], ['25006', 'read-only transaction (standby, failover)'],
    ['40001', 'serialization failure'], ['40P01', 'deadlock detected'], ['55P03', 'lock not available'],
  ])('%s (%s) is an outage of postgres', (code) => {
    const err = classifyPostgresError(withCode(code));
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as DependencyError).dependency).toBe('postgres');
  });

  // Messages workerd's connect() sockets fail with (a bare Error, no code), as postgres.js on Workers passes them on.
  it.each(['connection attempt failed', 'Network connection lost.', 'Stream was cancelled.'])('workerd\'s socket failure "%s" is an outage of postgres', (message) => {
    const err = classifyPostgresError(new Error(message));
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as DependencyError).dependency).toBe('postgres');
  });

  it('an Error of another kind or with a code keeps its meaning, whatever its message', () => {
    expect(classifyPostgresError(new TypeError('connection attempt failed'))).not.toBeInstanceOf(DependencyError);
    expect(classifyPostgresError(Object.assign(new Error('connection attempt failed'), { code: '23505' }))).not.toBeInstanceOf(DependencyError);
  });

  it.each([
    ['23505', 'unique violation'], ['22P02', 'invalid text representation'], ['57014', 'statement timeout'],
    ['XX000', 'internal error'], ['42P01', 'undefined table'],
  ])('%s (%s) is the statement\'s own failure, left as it is', (code) => {
    expect(isOutage(code)).toBe(false);
  });
});
