// A reply's two verdicts as the AppView writes them: together. When either holds (invalidReplyRoot,
// violatesThreadGate) both columns get a boolean, the other false; when neither does, both stay null. Here each is
// re-judged on its own (reply-roots.ts, gates.ts), so every statement that changes one writes the pair from both.

/**
 * The `set` list of an update of post writing both verdicts, given SQL boolean expressions saying whether each holds
 * (true; false or null: it does not). Both read the row as it was, as every expression of one update does.
 */
export function replyVerdicts(invalidRoot: string, violates: string): string {
  return `"invalidReplyRoot" = case when ${invalidRoot} then true when ${violates} then false end, ` +
    `"violatesThreadGate" = case when ${violates} then true when ${invalidRoot} then false end`;
}
