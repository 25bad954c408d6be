/**
 * The real nats-server cluster the cluster tests run against. It lives with the benchmarks, which
 * start the same cluster and are built from src and bench only; the tests import it from here.
 */
export * from '../../bench/cluster-harness.js'
