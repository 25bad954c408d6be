/** `dc09 journal export|verify`: read the journal while the receiver runs (no lock needed). */
import { join } from 'node:path'
import { readJournal, verifyJournal } from '../../journal/file-journal.js'
import { safeJson } from '../escape.js'
import { expandRecord, type JournalRecord } from '../../journal/record.js'

/** One JSON line per record, a frame's events in full whichever form the journal keeps them in. */
export async function exportJournal (data: string, from: number, write: (s: string) => void): Promise<number> {
  let n = 0
  for await (const r of readJournal<JournalRecord>(join(data, 'journal'), from)) {
    // Panel text and names: escaped so a terminal shows them rather than acts on them.
    write(safeJson(expandRecord(r)) + '\n')
    n++
  }
  return n
}

/** Prints what it found; returns false when anything is damaged. */
export async function verify (data: string, write: (s: string) => void): Promise<boolean> {
  const r = await verifyJournal(join(data, 'journal'))
  write(`${r.segments} segment(s), ${r.records} record(s)${r.firstId === undefined ? '' : `, ids ${r.firstId} to ${r.lastId}`}\n`)
  for (const p of r.problems) write(`damage: ${p.segment} at byte ${p.offset}: ${p.reason}\n`)
  write(r.problems.length === 0 ? 'every checksum is good\n' : `${r.problems.length} problem(s)\n`)
  return r.problems.length === 0
}
