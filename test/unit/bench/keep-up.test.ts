/** The keep-up case reads the pipeline's lag from the receiver's Prometheus text, and the alarm-to-case latency from its journal. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { alarmToCase, readLag } from '../../../bench/e2e/keep-up.js'
import { FileJournal } from '../../../src/journal/file-journal.js'

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

describe('alarmToCase', () => {
  it('takes each case-opened record\'s time minus that of the frame that caused it, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-keepup-test-'))
    try {
      const j = await FileJournal.open<object>(dir)
      const frame = (receivedAt: number) => ({ type: 'frame', receivedAt, account: '200001' })
      const derived = (kind: string, receivedAt: number, causedBy: number) => ({ type: 'derived', kind, receivedAt, causedBy, stage: 'cases', account: '200001', n: 0, data: {} })
      expect(await j.append(frame(1000))).toBe(1)
      expect(await j.append(frame(1100))).toBe(2)
      await j.append(derived('case-opened', 1250, 1))
      await j.append(derived('case-cancelled', 1300, 2))
      await j.append(derived('case-opened', 1400, 2))
      expect(await j.append(derived('duress', 1500, 0))).toBe(6)
      // A duress opens a case too, but no alarm frame caused it.
      await j.append(derived('case-opened', 1600, 6))
      await j.close()
      expect(await alarmToCase(join(dir, 'journal'))).toEqual([250, 300])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
