#!lua
--[[
acquire-stream-slot.lua: takes one of an owner's open-stream slots (CONTRACT §8) if fewer than
the limit are held, counted over every server instance that shares this Redis.

The owner's slots are one sorted set: member = slot id (the holding process's id and a counter),
score = when the slot expires, in ms of this server's clock (TIME), so the callers' clocks never
matter. Holders renew their slots (renew-stream-slots.lua) well within the TTL; a slot whose
holder died stops being renewed and is dropped here, by the first acquire after it expired.
The key itself expires with its latest slot, so an owner whose holders all died leaves nothing.

KEYS[1]  slots zset        <prefix>:{owner:O}:stream-slots
ARGV[1]  slot id, unique per acquire
ARGV[2]  limit: slots the owner may hold at once
ARGV[3]  ttl in ms

Returns
  1  acquired: the slot is held until now + ttl unless renewed
  0  full: the owner holds `limit` unexpired slots; only expired ones were removed
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], latest[2])
return 1
