// did:plc identifiers for tests that resolve them through a test directory: a readable name padded to the 24 base32
// characters (a-z, 2-7) the method requires, since the resolver refuses, without asking, a DID that cannot exist.
export function plcDid(name: string): string {
  if (!/^[a-z2-7]{1,24}$/.test(name)) throw new Error(`plcDid(${JSON.stringify(name)}): 1 to 24 characters of a-z and 2-7`);
  return `did:plc:${name.padEnd(24, 'a')}`;
}
