#!lua
--[[
reserve.lua: takes a slot among an owner's executions not yet terminal, for a new execution,
BEFORE it is created (its keys are in another hash slot on a cluster, so the two cannot be one
script). Check and take are one atomic step, so processes racing for an owner's last slot can
never both have it. The slot is freed when the execution ends; a process that dies in between
leaves a reservation that the service prunes by checking the execution's state.

KEYS[1]  unfinished zset   <prefix>:{owner:O}:unfinished
ARGV[1]  the operation id
ARGV[2]  the owner's limit, or "" for none (the execution is counted all the same)
ARGV[3]  reserved at (ms), the score: how the service tells a stale reservation from a young one

Returns
  1  reserved: the id holds a slot (taken now, or held already)
  0  full: the owner holds ARGV[2] slots already; nothing written
]]
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
