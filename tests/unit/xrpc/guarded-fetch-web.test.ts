// The Web runtimes' guard (Workers, where the platform's fetch cannot reach private addresses and resolves names
// itself): https only, no literal internal address in any form, and no redirects, with the platform fetch injected.
import { describe, expect, it } from 'vitest';
import { createGuardedFetch } from '../../../adapters/xrpc/guarded-fetch-web.ts';

const calls: string[] = [];
const platform = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  calls.push(String(input));
  expect(init?.redirect).toBe('manual');
  return String(input).includes('/moved') ? new Response(null, { status: 301, headers: { location: 'https://10.0.0.1/' } }) : new Response('ok');
};

describe('guarded fetch (Web)', () => {
  const fetch = createGuardedFetch({ allowPrivate: false, fetch: platform });

  it.each(['https://[::ffff:127.0.0.1]/', 'https://[64:ff9b::a00:1]/', 'https://127.1/', 'https://198.18.0.1/', 'https://[fd00::1]/', 'http://pds.example/'])(
    'refuses %s without fetching',
    async (url) => {
      calls.length = 0;
      await expect(fetch(url)).rejects.toMatchObject({ reason: 'forbidden_address' });
      expect(calls).toEqual([]);
    },
  );

  it('fetches a public https URL and refuses a redirect', async () => {
    expect(await (await fetch('https://pds.example/xrpc/x')).text()).toBe('ok');
    await expect(fetch('https://pds.example/moved')).rejects.toMatchObject({ reason: 'forbidden_address' });
  });

  it('lets a private network through when allowed, still without redirects', async () => {
    const local = createGuardedFetch({ allowPrivate: true, fetch: platform });
    expect(await (await local('http://127.0.0.1:2583/xrpc/x')).text()).toBe('ok');
    await expect(local('http://127.0.0.1:2583/moved')).rejects.toMatchObject({ reason: 'forbidden_address' });
  });

  it("hands a redirect back unfollowed when the caller asked 'manual'", async () => {
    calls.length = 0;
    const res = await fetch('https://pds.example/moved', { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('https://10.0.0.1/');
    expect(calls).toEqual(['https://pds.example/moved']);
  });
});
