#!lua
--[[
acquire-stream-slots.lua: takes up to N of an owner's open-stream slots (CONTRACT §8), as many
as fit under the limit, counted over every server instance that shares this Redis. One call
carries every acquire of one owner that waited while the previous call was in flight (group
commit): the first k ids, in the order given (the order the acquires arrived in), are granted,
the rest are refused and leave nothing behind.

The owner's slots are one sorted set: member = slot id (the holding process's id and a counter),
score = when the slot expires, in ms of this server's clock (TIME), so the callers' clocks never
matter. Holders renew their slots (renew-stream-slots.lua) well within the TTL; a slot whose
holder died stops being renewed and is dropped here, by the first acquire after it expired.
The key itself expires with its latest slot, so an owner whose holders all died leaves nothing.

KEYS[1]   slots zset        <prefix>:{owner:O}:stream-slots
ARGV[1]   limit: slots the owner may hold at once
ARGV[2]   ttl in ms
ARGV[3..] slot ids, one per acquire, each unique; at least one

Returns
  k, 0 <= k <= number of ids: ARGV[3..2+k] are held until now + ttl unless renewed; the others
  were refused (k = 0: the owner holds `limit` unexpired slots; only expired ones were removed)
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local granted = math.min(free, #ARGV - 2)
if granted <= 0 then return 0 end
local expires = now + tonumber(ARGV[2])
-- One ZADD per 500 ids rather than one per id; unpack's arguments stay well under Lua's stack.
local members = {}
for index = 3, granted + 2 do
  members[#members + 1] = expires
  members[#members + 1] = ARGV[index]
  if #members == 1000 or index == granted + 2 then
    redis.call('ZADD', KEYS[1], unpack(members))
    members = {}
  end
end
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], latest[2])
return granted
