#!lua
--[[
commit.lua: appends one batch of events and the snapshot they fold into, atomically.

The service decides the batch against the snapshot at ARGV[1] (transition legality, batch rules,
cursors, the folded snapshot) and this script is the compare-and-set that makes that decision
hold: it writes only if the stored sequence still equals ARGV[1], so no other batch can have
landed in between and the decision was made on exactly the state it extends. Everything is
checked before the first write, and the one write that could still fail (the first XADD, whose
id must exceed the stream's top) is tried first with pcall: a rejected batch writes nothing.
Scripts run atomically, so a crash leaves either the whole batch with its snapshot or neither.

KEYS[1]  state hash        <prefix>:{op}:state
KEYS[2]  events stream     <prefix>:{op}:events
KEYS[3]  timeline list     <prefix>:{op}:timeline
KEYS[4]  lease string      <prefix>:{op}:lease
KEYS[5]  (optional) idempotency result   <prefix>:{op}:appended:<key>
ARGV[1]  base sequence: the stored sequence this batch extends
ARGV[2]  sequence after the batch
ARGV[3]  "1" when the batch ends the execution (terminal status), else "0"
ARGV[4]  head JSON (the new snapshot without its timeline)
ARGV[5]  events retained per stream (exact MAXLEN)
ARGV[6]  ms a terminal execution is kept (PEXPIRE on every key of the execution)
ARGV[7]  shard channel to notify       <prefix>:{op}:live (same hash slot as the keys)
ARGV[8]  n, the number of events
ARGV[9]  lease holder the batch is fenced by, "" for none: it lands only while this holds KEYS[4]
ARGV[10] with KEYS[5]: the result to remember under the idempotency key
ARGV[11] with KEYS[5]: ms to remember it
ARGV[12 .. 11+2n]    id, envelope JSON for each event, in order (ids strictly increasing)
ARGV[12+2n ..]       new timeline entries as JSON, oldest first

Returns
  {1}          committed
  {2, record}  committed and the execution is now terminal; the record tells the caller which
               owner-side keys (idempotency) to expire, which live in another hash slot
  {-1}         missing: the execution does not exist (never created, or expired)
  {-2}         conflict: the stored sequence is not ARGV[1]
  {-3}         terminal: the execution already ended
  {-4}         the first id is not after the stream's top (ids out of order); nothing written
  {-5}         lease lost: ARGV[9] does not hold the lease; nothing written
  {3}          duplicate: KEYS[5] already remembers a result; nothing written
]]
local stored = redis.call('HMGET', KEYS[1], 'seq', 'terminal')
if not stored[1] then return {-1} end
if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 1 then return {3} end
-- Terminal before the lease: an end deletes the lease, and the caller must learn of the end.
if stored[2] == '1' then return {-3} end
if ARGV[9] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[9] then return {-5} end
if stored[1] ~= ARGV[1] then return {-2} end

local count = tonumber(ARGV[8])
local first = redis.pcall('XADD', KEYS[2], ARGV[12], 'e', ARGV[13])
if type(first) == 'table' and first.err then return {-4} end
local envelopes = {ARGV[13]}
for index = 2, count do
  local at = 10 + 2 * index
  redis.call('XADD', KEYS[2], ARGV[at], 'e', ARGV[at + 1])
  envelopes[index] = ARGV[at + 1]
end
redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[5])

local timelineFrom = 12 + 2 * count
if #ARGV >= timelineFrom then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, timelineFrom))
end
redis.call('HSET', KEYS[1], 'head', ARGV[4], 'seq', ARGV[2], 'terminal', ARGV[3])
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[10], 'PX', ARGV[11]) end

-- Subscribers get the batch itself, one envelope JSON a line (JSON text holds no raw newline),
-- so fan-out needs no read and each envelope's text goes out as stored; a lost message is
-- caught up by cursor from the stream, which this same script has already written.
redis.call('SPUBLISH', ARGV[7], table.concat(envelopes, '\n'))

if ARGV[3] == '1' then
  redis.call('DEL', KEYS[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
  return {2, redis.call('HGET', KEYS[1], 'record')}
end
return {1}
