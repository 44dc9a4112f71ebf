#!lua
--[[
claim-candidates.lua: executions a claim may try, oldest first: not terminal (in the unfinished
index), with no lease in force as far as the lease index knows, and of one of the asked types.
A hint, read in the one slot the indexes share: the lease itself, in the execution's slot, is
taken by acquire-lease.lua, which decides.

KEYS[1]  unfinished zset   <prefix>:{unfinished}          op ids by createdAt ms
KEYS[2]  leases zset       <prefix>:{unfinished}:leases   op ids by lease expiry ms
KEYS[3]  types hash        <prefix>:{unfinished}:types    op id -> execution type
ARGV[1]  now, ms (leases that end at or before it are free)
ARGV[2]  at most this many candidates
ARGV[3 ..] the types asked for; none: every type

Returns
  the candidates' operation ids, oldest first
]]
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local wanted = nil
if #ARGV > 2 then
  wanted = {}
  for index = 3, #ARGV do wanted[ARGV[index]] = true end
end
local candidates = {}
local page = 200
local offset = 0
while #candidates < limit do
  local ids = redis.call('ZRANGE', KEYS[1], offset, offset + page - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local leasedUntil = redis.call('ZSCORE', KEYS[2], id)
    if not leasedUntil or tonumber(leasedUntil) <= now then
      -- A type the index does not know (an execution indexed before types were) is tried: the
      -- claim checks the record itself.
      local kind = wanted and redis.call('HGET', KEYS[3], id)
      if not wanted or not kind or wanted[kind] then
        candidates[#candidates + 1] = id
        if #candidates >= limit then break end
      end
    end
  end
  offset = offset + page
end
return candidates
