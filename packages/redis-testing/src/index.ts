export {
  type RedisClusterHandle,
  type RedisClusterNode,
  type RedisClusterOptions,
  startRedisCluster,
} from './cluster.ts';
export { freePort, spawnOwned, terminate } from './process.ts';
export { type RespReply, redisCommand } from './resp.ts';
export { type RedisServerHandle, type RedisServerOptions, startRedisServer } from './server.ts';
