// Lua shared by the scripts that read back what they stored as a JSON array of strings, a few leading elements then
// fields in pairs (label-parking.ts's parked entries, redis-work-queue.ts's delayed entries). A member that is not one
// (truncated, another version's, written by hand) can never be used, and left where it is it fails its script on
// every run, holding back everything behind it for good: such a member goes to the DLQ as it is stored instead.
// stringArrayOf(m, lead, shape): the member's elements when it is a JSON array of strings, `lead` of them then at least
// one pair; else nil and what is wrong with it (`shape` says what it should have been).
// deadLetterMember(dlq, field, m, reason, error): the member to the DLQ under `field`, with rsky's verdict fields
// (`reason`, `attempts` 0, `error`).
export const STORED_MEMBERS_LUA = `
local function stringArrayOf(m, lead, shape)
  local ok, e = pcall(cjson.decode, m)
  if not ok then return nil, 'is not JSON (truncated?)' end
  if type(e) ~= 'table' then return nil, 'is not a JSON array' end
  local n = #e
  if n < lead + 2 or (n - lead) % 2 ~= 0 then return nil, 'has ' .. n .. ' elements, not ' .. shape end
  for i = 1, n do
    if type(e[i]) ~= 'string' then return nil, 'has an element ' .. i .. ' that is not a string' end
  end
  return e
end
local function deadLetterMember(dlq, field, m, reason, err)
  redis.call('XADD', dlq, '*', field, m, 'reason', reason, 'attempts', '0', 'error', err)
end
`;
