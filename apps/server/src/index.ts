export { ConfigError, loadConfig, type ServerConfig } from './config.ts';
export { type KeysCommandIo, runKeysCommand } from './keys-command.ts';
export { createLogger, type Logger } from './logger.ts';
export { type RunningServer, type StartOptions, startServer } from './server.ts';
export { openMemoryStores, openRedisStores, type Stores } from './stores.ts';
