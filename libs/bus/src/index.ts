// The public door of @livemesh/bus: the NATS connection, topology, segment transport, KV state and
// events, in our own types. No NATS client type crosses it (lint keeps @nats-io/* inside libs/bus).
export { Bus, busAuthFromEnv, type BusOptions } from './bus.connection.js';
export {
  NatsCredentialMinter,
  createNatsAuthSecrets,
  inboxPrefixOfCreds,
  loadOrCreateNatsAuth,
  mintCreds,
  natsServerAuthConfig,
  readAccountSigner,
  signerOf,
  type NatsAccountSigner,
  type NatsAuthSecrets,
} from './nats.auth.js';
export { natsServerConfig, parseComposeUsers, prepareComposeNats, type ComposeNats, type ComposeUsers, type NatsServerSettings } from './nats.setup.js';
export { isNotFound } from './bus.errors.js';
export type {
  BusConsumer,
  BusHeaders,
  BusMsg,
  BusSubscription,
  ConnectionChange,
  ConsumedMsg,
  ConsumerState,
  DurableConsumerOptions,
  HeaderValues,
  MaxDeliveriesAdvisory,
  MessageFeed,
  PublishAck,
  PublishOptions,
  StartAt,
  StoredMsg,
  StreamState,
} from './bus.types.js';
export { parseMaxDeliveriesAdvisory } from './advisories.js';
export { TOPOLOGY_DEFAULTS, ensureTopology, topologyFromEnv, waitForTopology, type TopologyOptions, type TopologyStore } from './topology.js';
export { decodeSegmentHeaders, encodeSegmentHeaders } from './segment.codec.js';
export { isOwnBlob, publishSegment, readSegment, releaseSegmentBlob, type PublishSegmentOptions } from './segment.transport.js';
export { bindServiceConsumer, ensureServiceConsumer, type ServiceConsumerOptions } from './consumers.js';
export { JsonStore, type JsonEntry } from './json.store.js';
export { ConsumeLoop, type ConsumeLoopOptions, type LoopLogger } from './consume.loop.js';
export { ChainCache, type ChainSource } from './chain.cache.js';
export { CarryStore, MAX_CARRY_BYTES, decodeCarry, type Carry, type CarryEntry } from './carry.store.js';
export { publishJson, publishStreamEvent } from './events.publisher.js';
export { RELAY_SOCKET_NAME, prepareRelayDir, relayTargets, serveUnixRelay, type Relay, type RelayTarget } from './socket.relay.js';
