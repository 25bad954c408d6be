import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { status } from '../../../src/cli/commands/pipeline.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { Batch, PipelineStore } from '../../../src/pipeline/store.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

it('says how far behind the pipeline is, in events and in seconds since the oldest one not run was received', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-status-'))
  dirs.push(dir)
  const j = await FileJournal.open<{ receivedAt: number }>(dir)
  for (const at of [1_000, 2_000, 5_000, 9_000]) await j.append({ receivedAt: at })
  await j.close()
  const store = new PipelineStore(dir)
  store.commit(new Batch(), 2)
  store.close()
  let text = ''
  await status(dir, true, (s) => { text += s }, 12_000)
  // Events 3 and 4 are behind; 3 was received at 5 s, so at 12 s the pipeline is 7 s behind.
  expect(JSON.parse(text)).toEqual({ cursor: 2, journalLastId: 4, lag: 2, lagSeconds: 7, deadLetters: 0 })
  text = ''
  await status(dir, false, (s) => { text += s }, 12_000)
  expect(text).toBe('pipeline at journal id 2 of 4 (2 behind, 7 s); 0 event(s) in the dead-letter list\n')
  const caughtUp = new PipelineStore(dir)
  caughtUp.commit(new Batch(), 4)
  caughtUp.close()
  text = ''
  await status(dir, true, (s) => { text += s }, 12_000)
  expect(JSON.parse(text)).toMatchObject({ lag: 0, lagSeconds: 0 })
})
