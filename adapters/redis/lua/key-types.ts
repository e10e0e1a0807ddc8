// Lua shared by the scripts that check a key's type before they write anything. Redis does not undo a script's
// writes when a later command fails, so a key of another type than a script needs (made by hand, by another version)
// found only at its write would leave the writes before it standing: half a batch, a frame parked twice on a retry.
// wrongTypeOf(key, want): the key's type when it is neither `want` nor absent, else nil.
// refusedType(key, want): then '<key> is a <type>, not a <want>', which a script answers instead of writing.
export const KEY_TYPES_LUA = `
local function wrongTypeOf(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= want and t ~= 'none' then return t end
  return nil
end
local function refusedType(key, want)
  local t = wrongTypeOf(key, want)
  if t then return key .. ' is a ' .. t .. ', not a ' .. want end
  return nil
end
`;

/** A script's answer that it refused a key of the wrong type (refusedType's text), else undefined. */
export function typeRefusal(reply: unknown): string | undefined {
  return typeof reply === 'string' ? reply : undefined;
}
