import { type LiveListener, StoreUnavailableError } from '@execstream/stream-service';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import {
  type ClusterNodeAddress,
  type ConnectOptions,
  connectSubscriber,
  type RedisClient,
  waitUntilReady,
} from './connect.ts';
import { toStoreError } from './errors.ts';
import { parseEnvelope } from './parse.ts';

interface ChannelEntry {
  listeners: Set<LiveListener>;
  connection: SubscriberConnection;
  /** Settles when Redis has confirmed the SSUBSCRIBE. */
  subscribed: Promise<void>;
}

/**
 * Live notifications for every local listener over O(1) Redis connections: one subscriber
 * connection per process on a standalone Redis (one per master on a cluster, where a shard
 * channel can only be subscribed on the node that owns its slot), whatever the number of streams
 * and listeners. Each stream with local listeners is SSUBSCRIBEd once; each message carries the
 * committed batch, one envelope a line, and is parsed once, then handed to every local listener of that stream.
 *
 * A notification can be lost (a message published while the subscriber connection was being
 * re-established). That never loses an event: after a reconnect the hub resubscribes, waits for
 * Redis to confirm, then calls `onGap()` on every listener of that connection, and each catches
 * up from the stream by its cursor.
 */
export class LiveHub {
  readonly #client: RedisClient;
  readonly #options: ConnectOptions;
  readonly #onError: (error: Error) => void;
  readonly #channels = new Map<string, ChannelEntry>();
  /** By node (`host:port`, or `standalone`). */
  readonly #connections = new Map<string, SubscriberConnection>();
  #listenerCount = 0;

  constructor(
    client: RedisClient,
    options: ConnectOptions & { onConnectionError?: (error: Error) => void },
  ) {
    this.#client = client;
    this.#options = options;
    this.#onError = options.onConnectionError ?? (() => {});
    if (client instanceof Cluster) client.on('refresh', () => this.#reroute(client));
  }

  /** Adds a listener; resolves once Redis has confirmed the subscription of its channel. */
  async listen(channel: string, listener: LiveListener): Promise<() => void> {
    let entry = this.#channels.get(channel);
    if (!entry) {
      const connection = this.#connectionFor(channel);
      entry = { listeners: new Set(), connection, subscribed: connection.subscribe(channel) };
      this.#channels.set(channel, entry);
    }
    const joined = entry;
    joined.listeners.add(listener);
    this.#listenerCount++;
    let listening = true;
    const unlisten = () => {
      if (!listening) return;
      listening = false;
      this.#listenerCount--;
      joined.listeners.delete(listener);
      if (joined.listeners.size === 0 && this.#channels.get(channel) === joined) {
        this.#channels.delete(channel);
        joined.connection.unsubscribe(channel);
      }
    };
    try {
      await joined.subscribed;
    } catch (error) {
      unlisten();
      throw toStoreError(error);
    }
    return unlisten;
  }

  listenerCount(): number {
    return this.#listenerCount;
  }

  close(): void {
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
    this.#channels.clear();
    this.#listenerCount = 0;
  }

  /** The node that owns a channel's slot (the slot of the execution's keys), by `host:port`. */
  #ownerOf(channel: string): string {
    if (!(this.#client instanceof Cluster)) return 'standalone';
    const owner = this.#client.slots[calculateSlot(channel)]?.[0];
    if (!owner) throw new StoreUnavailableError('Redis Cluster has no node for this stream yet');
    return owner;
  }

  #connectionFor(channel: string): SubscriberConnection {
    const nodeKey = this.#ownerOf(channel);
    let connection = this.#connections.get(nodeKey);
    if (!connection) {
      let node: ClusterNodeAddress | null = null;
      if (nodeKey !== 'standalone') {
        const colon = nodeKey.lastIndexOf(':');
        node = { host: nodeKey.slice(0, colon), port: Number(nodeKey.slice(colon + 1)) };
      }
      connection = new SubscriberConnection(
        connectSubscriber(this.#client, node, this.#options),
        this.#options.connectTimeoutMs ?? 5_000,
        {
          onMessage: (subscribedChannel, message) => this.#dispatch(subscribedChannel, message),
          onGap: (channels) => this.#gap(channels),
          onMoved: () => this.#refreshSlots(),
          onError: this.#onError,
        },
      );
      this.#connections.set(nodeKey, connection);
    }
    return connection;
  }

  #refreshSlots(): void {
    if (this.#client instanceof Cluster) this.#client.refreshSlotsCache();
  }

  /**
   * After the cluster's slot map changed (resharding, failover): every stream whose slot now has
   * another owner, or whose subscription was refused, is subscribed on the owner, and once Redis
   * confirms, its listeners catch up from the stream. Connections to nodes that own no slot any
   * more are closed.
   */
  #reroute(cluster: Cluster): void {
    for (const [channel, entry] of this.#channels) {
      let connection: SubscriberConnection;
      try {
        connection = this.#connectionFor(channel);
      } catch {
        continue; // No owner known yet: the next refresh tries again.
      }
      if (connection === entry.connection && connection.holds(channel)) continue;
      entry.connection.unsubscribe(channel);
      entry.connection = connection;
      entry.subscribed = connection.subscribe(channel);
      entry.subscribed.then(
        () => this.#gap([channel]),
        () => {
          // Not held now, so the next refresh tries again; meanwhile new listeners fail fast.
        },
      );
    }
    const owners = new Set<string>();
    for (const nodes of cluster.slots) if (nodes?.[0]) owners.add(nodes[0]);
    for (const [nodeKey, connection] of this.#connections) {
      if (!owners.has(nodeKey) && connection.isIdle()) {
        connection.close();
        this.#connections.delete(nodeKey);
      }
    }
  }

  #dispatch(channel: string, message: string): void {
    const entry = this.#channels.get(channel);
    if (!entry || entry.listeners.size === 0) return;
    // Parsed once for every local listener, which only read envelopes; each keeps the text it
    // was stored as (one a line, see commit.lua), so none is ever serialised again.
    // An empty message carries no event: a wake-up (the claimable channel, see RedisKeys).
    const envelopes = message === '' ? [] : message.split('\n').map(parseEnvelope);
    for (const listener of entry.listeners) listener.onEvents(envelopes);
  }

  #gap(channels: readonly string[]): void {
    for (const channel of channels) {
      const entry = this.#channels.get(channel);
      if (entry) for (const listener of entry.listeners) listener.onGap();
    }
  }
}

interface SubscriberEvents {
  onMessage(channel: string, message: string): void;
  /** These channels are subscribed again after a reconnect: their listeners must catch up. */
  onGap(channels: readonly string[]): void;
  /** Redis refused a subscription with MOVED: the slot map is out of date. */
  onMoved(): void;
  onError(error: Error): void;
}

/** One subscriber connection and the shard channels it should hold. */
class SubscriberConnection {
  readonly #redis: Redis;
  readonly #connectTimeoutMs: number;
  readonly #events: SubscriberEvents;
  readonly #channels = new Set<string>();
  #everReady = false;
  /** The first connect, shared: every stream opened before it is ready waits on this one. */
  #firstReady: Promise<void> | undefined;

  constructor(redis: Redis, connectTimeoutMs: number, events: SubscriberEvents) {
    this.#redis = redis;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#events = events;
    redis.on('smessage', events.onMessage);
    redis.on('ready', () => {
      if (this.#everReady) void this.#resubscribe();
      this.#everReady = true;
    });
    // Connection errors are expected during outages and surface through failed commands.
    redis.on('error', events.onError);
  }

  holds(channel: string): boolean {
    return this.#channels.has(channel);
  }

  isIdle(): boolean {
    return this.#channels.size === 0;
  }

  async subscribe(channel: string): Promise<void> {
    this.#channels.add(channel);
    try {
      if (this.#redis.status !== 'ready') {
        // Down after having worked: fail now, the caller retries. Never connected yet: this is
        // the first listener of the process, give the connection its connect timeout.
        if (this.#everReady)
          throw new StoreUnavailableError('The Redis subscriber is reconnecting');
        // One wait for all of them: a wait per stream would add its own listeners to the
        // connection, and a thousand streams opening at once would trip MaxListeners.
        this.#firstReady ??= waitUntilReady(this.#redis, this.#connectTimeoutMs).finally(() => {
          this.#firstReady = undefined;
        });
        await this.#firstReady;
      }
      await this.#redis.ssubscribe(channel);
    } catch (error) {
      this.#channels.delete(channel);
      if (isMoved(error)) this.#events.onMoved();
      throw error;
    }
  }

  unsubscribe(channel: string): void {
    this.#channels.delete(channel);
    // While disconnected there is nothing to undo: the server dropped every subscription of the
    // old connection, and the reconnect resubscribes only what is still wanted.
    if (this.#redis.status === 'ready') this.#redis.sunsubscribe(channel).catch(() => {});
  }

  close(): void {
    this.#channels.clear();
    this.#redis.disconnect();
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#channels];
    const results = await Promise.allSettled(
      channels.map((channel) => this.#redis.ssubscribe(channel)),
    );
    const confirmed: string[] = [];
    let moved = false;
    results.forEach((result, index) => {
      const channel = channels[index] as string;
      if (result.status === 'fulfilled') confirmed.push(channel);
      else if (isMoved(result.reason)) {
        // Its slot has another owner now: no longer held here, the hub re-routes it.
        this.#channels.delete(channel);
        moved = true;
      }
      // Any other failure is the connection dropping again: the next 'ready' starts over.
    });
    if (moved) this.#events.onMoved();
    // Only now, with the subscriptions confirmed, may listeners read what they missed: anything
    // committed after their read is notified.
    if (confirmed.length > 0) this.#events.onGap(confirmed);
  }
}

function isMoved(error: unknown): boolean {
  return error instanceof Error && /^(MOVED|ASK)\b/.test(error.message);
}
