#!lua flags=no-writes
--[[
read-state.lua: the record and snapshot of an execution, read in one atomic step so the head and
the timeline always belong to the same commit.

KEYS[1]  state hash        <prefix>:{op}:state
KEYS[2]  timeline list     <prefix>:{op}:timeline

Returns
  {}                                  missing (never created, or expired)
  {record, head, entry, entry, ...}   the head is the snapshot without its timeline; the
                                      entries are its timeline, oldest first
]]
local stored = redis.call('HMGET', KEYS[1], 'record', 'head')
if not stored[1] then return {} end
local reply = {stored[1], stored[2]}
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  reply[#reply + 1] = entry
end
return reply
