#!lua
--[[
release-lease.lua: gives the lease up, only if this holder still holds it (a lease that expired
and was taken by another worker is not theirs to release).

KEYS[1]  lease string      <prefix>:{op}:lease
ARGV[1]  holder

Returns
  1  released
  0  not held by this holder
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
