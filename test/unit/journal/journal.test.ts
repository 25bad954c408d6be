import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { journalSuite, type Rec } from '../../conformance/journal.suite.js'

journalSuite('MemoryJournal', async () => ({ journal: new MemoryJournal<Rec>() }))

journalSuite('FileJournal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-journal-'))
  return {
    journal: await FileJournal.open<Rec>(dir),
    reopen: () => FileJournal.open<Rec>(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})

journalSuite('FileJournal, fsync each, small segments', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-journal-'))
  return {
    journal: await FileJournal.open<Rec>(dir, { fsync: 'each', segmentBytes: 128 }),
    reopen: () => FileJournal.open<Rec>(dir, { segmentBytes: 512 }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})
