#!lua
--[[
renew-stream-slots.lua: pushes back the expiry of every slot one process holds for one owner
(one call per owner and round, whatever the number of its streams).

A slot that expired meanwhile (renewals failed for longer than the TTL: an outage, a paused
process) is added back, because its stream is still open: the set counts the streams that are
open, even if that briefly puts the owner past its limit. A released slot is never sent here.

KEYS[1]  slots zset        <prefix>:{owner:O}:stream-slots
ARGV[1]  ttl in ms
ARGV[2..] slot ids this process holds for the owner

Returns
  the number of slots that had expired and are held again (0 when every slot was still there)
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expires = now + tonumber(ARGV[1])
local restored = 0
for index = 2, #ARGV do
  restored = restored + redis.call('ZADD', KEYS[1], expires, ARGV[index])
end
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if latest[2] then redis.call('PEXPIREAT', KEYS[1], latest[2]) end
return restored
