// The public door of @livemesh/bus: the NATS connection, topology, segment transport, KV state and events.
export { Bus, type BusOptions } from './bus.connection.js';
export { ensureTopology, isNotFound, type TopologyOptions } from './topology.js';
export { decodeSegmentHeaders, encodeSegmentHeaders } from './segment.codec.js';
export { publishSegment, readSegment, releaseSegmentBlob, type PublishSegmentOptions } from './segment.transport.js';
export { ensureDurable, ensureServiceConsumer, type ServiceConsumerOptions } from './consumers.js';
export { JsonStore, type JsonEntry } from './json.store.js';
export { CarryStore, MAX_CARRY_BYTES, decodeCarry, type Carry, type CarryEntry } from './carry.store.js';
export { publishJson, publishStreamEvent } from './events.publisher.js';
export type { JsMsg, Consumer } from '@nats-io/jetstream';
export { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
export type { MsgHdrs } from '@nats-io/transport-node';
