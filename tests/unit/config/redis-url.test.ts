// REDIS_URL's path is its database's number: ioredis read `/abc` as none and ran every command on database 0 (another
// deployment's data), so the parser takes only no path, `/` or `/<digits>`.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { configProblems } from '../../helpers/config-problems.ts';

const problemsOf = configProblems;

describe('parseConfig: REDIS_URL names its database by number, or none', () => {
  it('takes no path, /, or /<digits>', () => {
    for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/0', 'redis://redis.internal/15', 'rediss://:pw@redis.internal:6380/2', 'redis://127.0.0.1:6379/99']) {
      expect(parseConfig({ REDIS_URL: url }).config.redisUrl, url).toBe(url);
    }
  });

  it('refuses any other path, naming the variable and the path, never the password', () => {
    for (const path of ['/abc', '/1x', '/5/x', '/-1', '/1.5', '//', '/db0']) {
      expect(problemsOf({ REDIS_URL: `redis://:hunter2@127.0.0.1:6379${path}` }), path).toEqual([
        `REDIS_URL must name a database by its number (/0, /1, ...) or none, not the path ${JSON.stringify(path)}`,
      ]);
    }
    expect(problemsOf({ REDIS_URL: 'rediss://:hunter2@redis.internal:6380/abc' }).join('\n')).not.toContain('hunter2');
  });

  it('refuses ?db= (ioredis reads it over the path, unchecked) and a database other than 0 beside REDIS_CLUSTER_NODES', () => {
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379?db=abc' })).toEqual(['REDIS_URL must name its database in the path (/0, /1, ...), not as ?db=']);
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379/2', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toEqual([
      'REDIS_URL names database 2, but a Redis Cluster (REDIS_CLUSTER_NODES) has database 0 only',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379/0', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toEqual([]);
  });

  it('leaves other URLs\' paths alone', () => {
    expect(parseConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/index', PLC_URL: 'https://plc.internal/directory' }).config.plcUrl).toBe('https://plc.internal/directory');
  });
});
