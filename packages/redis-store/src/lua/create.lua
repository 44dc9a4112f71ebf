#!lua
--[[
create.lua: stores a new execution with its first event, unless its operation id is taken.

One script, so an execution either exists whole (state, first event, timeline) or not at all.

KEYS[1]  state hash        <prefix>:{op}:state
KEYS[2]  events stream     <prefix>:{op}:events
KEYS[3]  timeline list     <prefix>:{op}:timeline
ARGV[1]  record JSON
ARGV[2]  head JSON (the snapshot without its timeline)
ARGV[3]  sequence of the snapshot
ARGV[4]  "1" when the snapshot is terminal, else "0"
ARGV[5]  owner id
ARGV[6]  id of the first event (its cursor)
ARGV[7]  first envelope JSON
ARGV[8..] the snapshot's timeline entries as JSON, oldest first (usually none)

Returns
  {1}                                   created
  {0, record, head, entry, entry, ...}  the operation id already exists: its state, read in the
                                        same atomic step so it is never half of a commit
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local existing = redis.call('HMGET', KEYS[1], 'record', 'head')
  local reply = {0, existing[1], existing[2]}
  for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    reply[#reply + 1] = entry
  end
  return reply
end

redis.call('XADD', KEYS[2], ARGV[6], 'e', ARGV[7])
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'head', ARGV[2], 'seq', ARGV[3],
  'terminal', ARGV[4], 'owner', ARGV[5])
if #ARGV >= 8 then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, 8))
end
return {1}
