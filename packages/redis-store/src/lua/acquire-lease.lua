#!lua
--[[
acquire-lease.lua: takes or renews the lease naming the worker that runs an execution:
SET if free or already ours, with a PX expiry. A terminal or missing execution has no lease.
With ARGV[3] = "renew", only a lease the holder holds now is extended: one that expired is lost.

KEYS[1]  state hash        <prefix>:{op}:state
KEYS[2]  lease string      <prefix>:{op}:lease
ARGV[1]  holder (a lease token)
ARGV[2]  ttl in ms
ARGV[3]  "renew" to extend only, "" to take or renew

Returns
  1   the holder now holds the lease
  0   another holder's lease has not expired, or (renew) the holder's has
  -1  the execution is missing or terminal: it has no lease (and no place in the claim indexes)
]]
local terminal = redis.call('HGET', KEYS[1], 'terminal')
if terminal ~= '0' then return -1 end
local current = redis.call('GET', KEYS[2])
if current and current ~= ARGV[1] then return 0 end
if not current and ARGV[3] == 'renew' then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
