import { expect, it } from 'vitest'
import { Metrics } from '../../../src/api/metrics.js'

it('counts frames NAKed over a rate limit by limit, with no account or address', async () => {
  const m = new Metrics()
  const stats = { answered: { 'ADM-CID ACK': 5, 'ADM-CID NAK': 4 }, rejected: { DC09_ERR_RATE_LIMIT: 4 }, rateLimited: { account: 3, address: 1 } }
  m.setSources({ receiverStats: () => stats })
  const text = await m.scrape(1000)
  expect(text).toMatch(/^dc09_rate_limited_frames_total\{limit="account"\} 3$/m)
  expect(text).toMatch(/^dc09_rate_limited_frames_total\{limit="address"\} 1$/m)
  expect(text).toMatch(/^dc09_rejections_total\{code="DC09_ERR_RATE_LIMIT"\} 4$/m)
  stats.rateLimited.account = 10
  expect(await m.scrape(3000)).toMatch(/^dc09_rate_limited_frames_total\{limit="account"\} 10$/m)
})

it('splits into the receiver\'s part and the interface\'s, and one scrape shows both', async () => {
  const receiver = new Metrics('receiver')
  const api = new Metrics('interface')
  receiver.setSources({ receiverStats: () => ({ answered: { 'ADM-CID ACK': 2 }, rejected: {} }), connections: () => 7 })
  receiver.commitSeconds.observe(0.001)
  api.verifications.inc({ outcome: 'valid' })
  api.setSources({ pipelineLag: () => 12, pipelineLagSeconds: () => 0.5, more: () => receiver.registry.metrics() })
  const own = await api.registry.metrics()
  expect(own).not.toMatch(/dc09_frames_total|dc09_connections|dc09_journal_commit_seconds|dc09_process_/)
  const text = await api.scrape(1000)
  expect(text).toMatch(/^dc09_frames_total\{type="ADM-CID",answer="ACK"\} 2$/m)
  expect(text).toMatch(/^dc09_connections 7$/m)
  expect(text).toMatch(/^dc09_journal_commit_seconds_count 1$/m)
  expect(text).toMatch(/^dc09_pipeline_lag_events 12$/m)
  expect(text).toMatch(/^dc09_pipeline_lag_seconds 0.5$/m)
  expect(text).toMatch(/^dc09_verifications_total\{outcome="valid"\} 1$/m)
  // Each metric once: no name registered on both sides.
  const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1])
  expect(new Set(names).size).toBe(names.length)
  expect(await receiver.registry.metrics()).not.toMatch(/dc09_pipeline_lag|dc09_verifications_total|dc09_api_requests_total/)
})

it('shows each output by its name: lag, totals, dead letters, connection', async () => {
  const m = new Metrics('interface')
  const outputs = [
    { name: 'automation', lag: 4, delivered: 10, retried: 2, parked: 1, waiting: 1, connected: 2, state: 'up' },
    { name: 'hook', lag: 0, delivered: 7, retried: 0, parked: 0, waiting: 0, connected: 0, state: 'down' },
  ]
  m.setSources({ outputs: () => outputs })
  const text = await m.scrape(1000)
  expect(text).toMatch(/^dc09_output_lag_events\{output="automation"\} 4$/m)
  expect(text).toMatch(/^dc09_output_delivered_total\{output="automation"\} 10$/m)
  expect(text).toMatch(/^dc09_output_retries_total\{output="automation"\} 2$/m)
  expect(text).toMatch(/^dc09_output_parked_total\{output="automation"\} 1$/m)
  expect(text).toMatch(/^dc09_output_dead_letters\{output="automation"\} 1$/m)
  expect(text).toMatch(/^dc09_output_connected\{output="automation"\} 2$/m)
  expect(text).toMatch(/^dc09_output_up\{output="automation"\} 1$/m)
  expect(text).toMatch(/^dc09_output_up\{output="hook"\} 0$/m)
  // An output that no longer runs here (the lease moved) leaves the scrape.
  outputs.pop()
  expect(await m.scrape(3000)).not.toMatch(/output="hook"/)
})
