// How long a consumer's read waits for new entries (XREADGROUP ... BLOCK) by default, on a connection of its own
// (client.ts, createBlockingReader): a Redis that stops answering is found on that connection this much later than
// REDIS_SOCKET_TIMEOUT_MS, which the config's check of SKYTIDE_TASK_STUCK_MS allows for. No imports: the config reads it.
export const READ_BLOCK_MS = 1000;
