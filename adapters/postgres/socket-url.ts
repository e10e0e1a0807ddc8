// A DATABASE_URL naming a Unix socket, as libpq writes it: `postgresql:///index?host=/run/postgresql` (the socket's
// directory as the `host` parameter, often with `port` and `user` parameters too, there being no authority) or the
// directory percent-encoded as the host (`postgresql://user@%2Frun%2Fpostgresql/index`). postgres.js reads neither:
// it passed `host` on to the server as a setting, which refused the connection ("unrecognized configuration parameter
// host"), and looked the encoded directory up in DNS. Postgres on the same machine is reached this way, without TCP.

export interface SocketUrl {
  /** The URL without the parameters read here (postgres.js would send them to the server as settings). */
  url: string;
  /** The socket file: `<directory>/.s.PGSQL.<port>`. */
  path: string;
  /** From the `user` parameter, when the URL has no user before the host. */
  user?: string;
}

/** The Unix socket a libpq-style URL names, or undefined when it names TCP hosts (or is no URL). */
export function unixSocketOf(url: string): SocketUrl | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const parameter = u.searchParams.get('host') ?? '';
  let encoded = '';
  try {
    encoded = decodeURIComponent(u.hostname);
  } catch {
    return undefined;
  }
  const directory = parameter.startsWith('/') ? parameter : encoded.startsWith('/') ? encoded : undefined;
  if (directory === undefined) return undefined;
  const port = u.searchParams.get('port') ?? (u.port === '' ? '5432' : u.port);
  if (!/^[0-9]{1,5}$/.test(port)) return undefined;
  const user = u.searchParams.get('user') ?? undefined;
  for (const name of ['host', 'port', 'user']) u.searchParams.delete(name);
  if (encoded.startsWith('/')) u.hostname = 'localhost';
  u.port = '';
  return {
    url: u.toString(),
    path: `${directory.replace(/\/+$/, '')}/.s.PGSQL.${port}`,
    ...(user !== undefined && u.username === '' ? { user } : {}),
  };
}
