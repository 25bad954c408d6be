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
