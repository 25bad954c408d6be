/** The keep-up case reads the pipeline's lag from the receiver's Prometheus text. */
import { describe, expect, it } from 'vitest'
import { readLag } from '../../../bench/e2e/keep-up.js'

const TEXT = `# HELP dc09_pipeline_lag_events journaled events the pipeline has not run yet
# TYPE dc09_pipeline_lag_events gauge
dc09_pipeline_lag_events 1207
# HELP dc09_pipeline_dead_letters events and timers a stage failed on after its retries
# TYPE dc09_pipeline_dead_letters gauge
dc09_pipeline_dead_letters 0
`

describe('readLag', () => {
  it('reads the lag in events, and in seconds only when the receiver reports it', () => {
    expect(readLag(TEXT)).toEqual({ events: 1207, seconds: undefined })
    expect(readLag(`${TEXT}# TYPE dc09_pipeline_lag_seconds gauge\ndc09_pipeline_lag_seconds 0.75\n`)).toEqual({ events: 1207, seconds: 0.75 })
  })

  it('gives nothing for a text without the gauge (not a sample of lag 0)', () => {
    expect(readLag('dc09_pipeline_lag_events_total 3\n')).toBeUndefined()
    expect(readLag('')).toBeUndefined()
  })
})
