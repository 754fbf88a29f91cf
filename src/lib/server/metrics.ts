/**
 * The operator's view in Prometheus' format (`GET /metrics`, behind METRICS_TOKEN; fast-path.ts
 * serves it): open connections by transport, sends and their latency, commit batch sizes, sends
 * held by the sequence buffer, bus lag between instances, database batches in flight, the query
 * pool's use, errors by code, and prom-client's process metrics (CPU, memory, event loop lag, GC). One registry per
 * process, on globalThis like the services, because dev mode may load this module twice.
 */
import client from 'prom-client';
import type { PoolUseSnapshot } from './db/pool-use';

function create() {
	const registry = new client.Registry();
	client.collectDefaultMetrics({ register: registry, prefix: 'duet_' });
	const pool: { read?: () => PoolUseSnapshot } = {};
	// Read at scrape time: the pool's use is a state, not a stream of events to count.
	const poolGauge = (name: string, help: string, field: keyof PoolUseSnapshot) =>
		new client.Gauge({
			name,
			help,
			registers: [registry],
			collect() {
				this.set(pool.read?.()[field] ?? 0);
			}
		});
	return {
		pool,
		poolInUse: poolGauge('duet_db_pool_in_use', 'PostgreSQL pool connections taken by statements, transactions and batches.', 'inUse'),
		poolWaiting: poolGauge(
			'duet_db_pool_waiting',
			'Statements, transactions and batches waiting for a PostgreSQL pool connection.',
			'waiting'
		),
		poolSize: poolGauge('duet_db_pool_size', 'PostgreSQL pool connections at most (DATABASE_POOL_SIZE; 0 on PGlite).', 'size'),
		registry,
		connections: new client.Gauge({
			name: 'duet_connections',
			help: 'Open push connections, by transport.',
			labelNames: ['transport'],
			registers: [registry]
		}),
		sends: new client.Counter({
			name: 'duet_sends_total',
			help: 'Sends answered, by outcome (ok, or the error code).',
			labelNames: ['outcome'],
			registers: [registry]
		}),
		sendSeconds: new client.Histogram({
			name: 'duet_send_duration_seconds',
			help: 'From a send reaching the chat service to its ack (durable) or its error.',
			buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
			registers: [registry]
		}),
		batchSize: new client.Histogram({
			name: 'duet_commit_batch_size',
			help: 'Sends and changes written by one group commit.',
			buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
			registers: [registry]
		}),
		batchesInFlight: new client.Gauge({
			name: 'duet_commit_batches_in_flight',
			help: 'Group commits holding a database connection.',
			registers: [registry]
		}),
		held: new client.Counter({
			name: 'duet_sequence_buffer_holds_total',
			help: 'Sends the sequence buffer held back, waiting for an earlier one of their client.',
			registers: [registry]
		}),
		heldNow: new client.Gauge({ name: 'duet_sequence_buffer_held', help: 'Sends held by the sequence buffer now.', registers: [registry] }),
		busLag: new client.Histogram({
			name: 'duet_bus_lag_seconds',
			help: "From another instance's publish to its arrival here (clocks of the two hosts apart included).",
			buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
			registers: [registry]
		}),
		busNotes: new client.Counter({
			name: 'duet_bus_notes_received_total',
			help: "Hints received from other instances, by whether a connection here wanted them ('here') or not ('elsewhere'): the bus work.",
			labelNames: ['for'],
			registers: [registry]
		}),
		errors: new client.Counter({
			name: 'duet_errors_total',
			help: 'Errors answered to clients (HTTP and WebSocket), by protocol code.',
			labelNames: ['code'],
			registers: [registry]
		})
	};
}

const KEY = Symbol.for('duet.metrics');
type Metrics = ReturnType<typeof create>;

export const metrics: Metrics = ((globalThis as Record<symbol, Metrics>)[KEY] ??= create());

/** Makes /metrics report this pool's use (one pool per process; PGlite has none). */
export function watchPool(read: () => PoolUseSnapshot): void {
	metrics.pool.read = read;
}

/** Seconds since `startedAt` (a performance.now() reading). */
export function secondsSince(startedAt: number): number {
	return (performance.now() - startedAt) / 1000;
}
