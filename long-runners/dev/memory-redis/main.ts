// `node long-runners/dev/memory-redis/main.ts [port]`: the in-process Redis on its own, for running the Redis
// adapters' tests against it (TEST_REDIS_URL=redis://127.0.0.1:<port>). Prints its URL, stops on SIGTERM/SIGINT.
import { startMemoryRedis } from './server.ts';

const server = await startMemoryRedis({ port: Number(process.argv[2] ?? 0) });
process.stdout.write(`${server.url}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
