// An in-process Redis server on a loopback port, for `skytide dev` on a machine without Redis: the store of
// ./store.ts behind the RESP protocol, with MULTI/EXEC, blocking XREADGROUP and scripts run by their JS twins. Every
// ioredis client of the pipeline connects to it unchanged. Not durable: the data lives in this process's memory and
// is gone when it stops (the dev command says so in a banner).
import net from 'node:net';
import { RequestParser, encode, ReplyError, Status, OK, NULL_ARRAY, type Reply } from './resp.ts';
import { Store } from './store.ts';
import { arityError } from './arity.ts';

/** What the server runs itself, around the store's commands. */
const SERVER_COMMANDS = new Set(['EVAL', 'EVALSHA', 'SCRIPT', 'MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH', 'QUIT']);
const unknownCommand = (args: readonly string[]) => new ReplyError(`ERR unknown command '${args[0] ?? ''}'`);
import { SCRIPT_TWINS, runTwin, sha1, type ScriptTwin } from './script-twins.ts';

export interface MemoryRedis {
  url: string;
  port: number;
  store: Store;
  close(): Promise<void>;
}

interface Waiter {
  keys: Set<string>;
  wake(): void;
}

export async function startMemoryRedis(options: { port?: number } = {}): Promise<MemoryRedis> {
  const store = new Store();
  const loaded = new Map<string, ScriptTwin>();
  const waiters = new Set<Waiter>();
  store.onKeyChange = (key) => {
    for (const w of [...waiters]) if (w.keys.has(key)) w.wake();
  };
  const sockets = new Set<net.Socket>();

  // Only a script loaded by EVAL or SCRIPT LOAD runs by its sha, as in Redis: an EVALSHA of one never loaded answers
  // NOSCRIPT, so the EVAL fallback of adapters/redis/scripts.ts runs under `npm run dev` too.
  const script = (sha: string, a: readonly string[]): Reply => {
    const twin = loaded.get(sha);
    if (twin === undefined) return new ReplyError('NOSCRIPT No matching script. Please use EVAL.');
    const n = Number(a[1]);
    if (!Number.isInteger(n) || n < 0 || n > a.length - 2) return new ReplyError('ERR Number of keys can\'t be greater than number of args');
    return runTwin(twin, store, a.slice(2, 2 + n), a.slice(2 + n));
  };

  /** One command outside MULTI's queueing; blocking is handled by the connection, which also holds its own name. */
  const execute = (args: readonly string[], connection: { name: string | null }): Reply => {
    const name = (args[0] ?? '').toUpperCase();
    if (name === 'CLIENT') {
      const sub = (args[1] ?? '').toUpperCase();
      if (sub === 'GETNAME') return connection.name;
      if (sub === 'SETNAME') {
        const wanted = args[2] ?? '';
        if (/[^!-~]/.test(wanted)) return new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
        connection.name = wanted === '' ? null : wanted;
        return OK;
      }
    }
    if (name === 'EVAL') {
      const text = args[1] ?? '';
      const sha = sha1(text);
      const twin = SCRIPT_TWINS.get(sha);
      if (twin === undefined) return new ReplyError('ERR the in-process Redis runs only skytide\'s own scripts (no JS twin for this one)');
      loaded.set(sha, twin);
      return script(sha, args.slice(1));
    }
    if (name === 'EVALSHA') return script((args[1] ?? '').toLowerCase(), args.slice(1));
    if (name === 'SCRIPT') {
      const sub = (args[1] ?? '').toUpperCase();
      if (sub === 'LOAD') {
        const sha = sha1(args[2] ?? '');
        const twin = SCRIPT_TWINS.get(sha);
        if (twin === undefined) return new ReplyError('ERR the in-process Redis runs only skytide\'s own scripts (no JS twin for this one)');
        loaded.set(sha, twin);
        return sha;
      }
      if (sub === 'EXISTS') return args.slice(2).map((s) => (loaded.has(s.toLowerCase()) ? 1 : 0));
      if (sub === 'FLUSH') return (loaded.clear(), OK);
      return new ReplyError(`ERR unknown subcommand '${args[1] ?? ''}' for SCRIPT`);
    }
    return store.run(args);
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const parser = new RequestParser();
    let queue: string[][] | undefined; // MULTI in progress
    let aborted = false;
    let blocked = false;
    let closed = false;
    const connection: { name: string | null } = { name: null };
    const send = (reply: Reply) => {
      const out: Buffer[] = [];
      encode(reply, out);
      if (!closed) socket.write(Buffer.concat(out));
    };

    const pump = () => {
      while (!blocked && !closed) {
        let args: string[] | undefined;
        try {
          args = parser.next();
        } catch (err) {
          send(new ReplyError(`ERR Protocol error: ${(err as Error).message}`));
          socket.end();
          return;
        }
        if (args === undefined) return;
        handle(args);
      }
    };

    const handle = (args: string[]) => {
      const name = (args[0] ?? '').toUpperCase();
      // Refused before it runs or is queued; a refusal inside MULTI discards the whole transaction at EXEC.
      const refused = arityError(args) ?? (queue !== undefined && !store.has(name) && !SERVER_COMMANDS.has(name) ? unknownCommand(args) : undefined);
      if (refused !== undefined) {
        if (queue !== undefined) aborted = true;
        return send(refused);
      }
      if (name === 'QUIT') {
        send(OK);
        socket.end();
        return;
      }
      if (name === 'MULTI') {
        if (queue !== undefined) return send(new ReplyError('ERR MULTI calls can not be nested'));
        queue = [];
        aborted = false;
        return send(OK);
      }
      if (name === 'DISCARD') {
        if (queue === undefined) return send(new ReplyError('ERR DISCARD without MULTI'));
        queue = undefined;
        return send(OK);
      }
      if (name === 'WATCH' || name === 'UNWATCH') return send(OK);
      if (name === 'EXEC') {
        if (queue === undefined) return send(new ReplyError('ERR EXEC without MULTI'));
        const commands = queue;
        queue = undefined;
        if (aborted) return send(new ReplyError('EXECABORT Transaction discarded because of previous errors.'));
        return send(commands.map((c) => execute(c, connection)));
      }
      if (queue !== undefined) {
        queue.push(args);
        return send(new Status('QUEUED'));
      }
      if (name === 'XREADGROUP') return readGroup(args);
      send(execute(args, connection));
    };

    const readGroup = (args: string[]) => {
      let first: ReturnType<Store['xreadgroup']>;
      try {
        first = store.xreadgroup(args.slice(1));
      } catch {
        return send(store.run(args));
      }
      if (!first.empty || first.block === undefined) return send(first.reply);
      // BLOCK: hold the connection (as Redis does) until an entry arrives or the time is up.
      blocked = true;
      const blockMs = first.block;
      const onClose = () => {
        waiters.delete(waiter);
        if (timer !== undefined) clearTimeout(timer);
      };
      const done = (reply: Reply) => {
        waiters.delete(waiter);
        if (timer !== undefined) clearTimeout(timer);
        socket.off('close', onClose);
        blocked = false;
        send(reply);
        setImmediate(pump);
      };
      const waiter: Waiter = {
        keys: new Set(first.keys),
        wake: () => {
          // Run after the writer's command (a MULTI may add several entries): Redis serves blocked clients then too.
          queueMicrotask(() => {
            if (!waiters.has(waiter)) return;
            // Its stream deleted (or its group), Redis unblocks the reader with an error: the consumer recreates them.
            for (const key of waiter.keys) {
              const gone = store.blockedReadGone(key, args[2] ?? '');
              if (gone !== undefined) return done(gone);
            }
            try {
              const again = store.xreadgroup(args.slice(1));
              if (!again.empty) done(again.reply);
            } catch (err) {
              done(store.run(args));
              void err;
            }
          });
        },
      };
      waiters.add(waiter);
      const timer = blockMs > 0 ? setTimeout(() => done(NULL_ARRAY), blockMs) : undefined;
      socket.once('close', onClose);
    };

    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      pump();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    store,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        for (const w of waiters) waiters.delete(w);
        server.close(() => resolve());
      }),
  };
}
