#!lua
--[[
claim.lua: the owner-side half of creating an execution. Runs BEFORE create.lua (another hash
slot on a cluster, so the two cannot be one script): a crash between them leaves an index entry
and an idempotency claim that point at an execution not yet created. Readers skip such entries,
and a retry with the same idempotency key gets the claimed operation id back and completes its
creation, so nothing is lost and no key ever names two executions.

KEYS[1]  executions zset   <prefix>:{owner:O}:executions
KEYS[2]  counter string    <prefix>:{owner:O}:counter
KEYS[3]  (optional) idempotency claim   <prefix>:{owner:O}:idem:<key>
ARGV[1]  the operation id to claim

Returns
  the operation id that now stands for this request: ARGV[1], or the one the idempotency key
  already named
]]
local id = ARGV[1]
if #KEYS == 3 then
  local claimed = redis.call('GET', KEYS[3])
  if claimed then return claimed end
  redis.call('SET', KEYS[3], id)
end
if not redis.call('ZSCORE', KEYS[1], id) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), id)
end
return id
