// The dev network's listen patch: a service that names no host binds 127.0.0.1 only, one that names a host keeps it,
// and listen() is itself again afterwards.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { withListenArgs, withLoopbackListen } from '../../../long-runners/dev/loopback.ts';

async function listen(start: (server: net.Server) => void): Promise<net.AddressInfo> {
  const server = net.createServer();
  await new Promise<void>((resolve) => {
    server.once('listening', resolve);
    start(server);
  });
  const address = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return address;
}

describe('withLoopbackListen', () => {
  it('binds 127.0.0.1 when no host is given, by port or by options, and leaves a given host alone', async () => {
    const original = net.Server.prototype.listen;
    const [byPort, byOptions, given] = await withLoopbackListen(async () => [
      await listen((s) => s.listen(0)),
      await listen((s) => s.listen({ port: 0 })),
      await listen((s) => s.listen(0, '0.0.0.0')),
    ]);
    expect(byPort.address).toBe('127.0.0.1');
    expect(byOptions.address).toBe('127.0.0.1');
    expect(given.address).toBe('0.0.0.0');
    expect(net.Server.prototype.listen).toBe(original);
    // Outside the patch, no host means every interface again.
    expect(['::', '0.0.0.0']).toContain((await listen((s) => s.listen(0))).address);
  });

  it('restores listen() when the function throws, and nests with another rewrite', async () => {
    const original = net.Server.prototype.listen;
    await expect(withLoopbackListen(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(net.Server.prototype.listen).toBe(original);
    const seen: unknown[] = [];
    const address = await withListenArgs((args) => (seen.push(args[0]), args), () => withLoopbackListen(() => listen((s) => s.listen(0))));
    expect(address.address).toBe('127.0.0.1');
    expect(seen).toEqual([0]);
    expect(net.Server.prototype.listen).toBe(original);
  });
});
