// The dev-env services call listen(port) without a host, which binds every interface. While they start, default the
// host to 127.0.0.1 so nothing of the dev network is reachable from outside this machine.
import net from 'node:net';

export async function withLoopbackListen<T>(fn: () => Promise<T>): Promise<T> {
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function patched(this: net.Server, ...args: unknown[]) {
    const [first, second] = args;
    // listen(port) or listen(port, callback): no host given, so add ours. listen(port, host, ...) is left alone.
    if (typeof first === 'number' && typeof second !== 'string') {
      return (original as (...a: unknown[]) => net.Server).call(this, first, '127.0.0.1', ...args.slice(1));
    }
    if (typeof first === 'object' && first !== null && !('path' in first) && (first as net.ListenOptions).host === undefined) {
      return (original as (...a: unknown[]) => net.Server).call(this, { ...(first as net.ListenOptions), host: '127.0.0.1' }, ...args.slice(1));
    }
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof original;
  try {
    return await fn();
  } finally {
    net.Server.prototype.listen = original;
  }
}
