/** `dc09 journal export|verify`: read the journal while the receiver runs (no lock needed). */
import { join } from 'node:path'
import { readJournal, verifyJournal } from '../../journal/file-journal.js'
import { safeJson } from '../escape.js'
import { expandRecord, type JournalRecord } from '../../journal/record.js'
import type { Stored } from '../../journal/journal.js'
import type { Command } from 'commander'
import type { CliDeps } from '../deps.js'
import { parseCount } from '../options.js'
import { placeOf, placeOptions, withClusterJournal, type Place } from '../stores.js'

/** One JSON line per record, a frame's events in full whichever form the journal keeps them in. */
export async function exportJournal (data: Place, from: number, write: (s: string) => void): Promise<number> {
  if (typeof data !== 'string') return await withClusterJournal(data, async (j) => await writeRecords(j.read(from), write))
  return await writeRecords(readJournal<JournalRecord>(join(data, 'journal'), from), write)
}

async function writeRecords (records: AsyncIterable<Stored<JournalRecord>>, write: (s: string) => void): Promise<number> {
  let n = 0
  for await (const r of records) {
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

export function register (program: Command, deps: CliDeps): void {
  const journal = program.command('journal').description('read the event journal (works while the receiver runs)')
  placeOptions(journal.command('export').description('print every record as a JSON line (with --nats: the cluster\'s events stream, whose sequence is the id)'))
    .option('--from <id>', 'start at this journal id', parseCount, 1)
    .action(async (o: { data?: string, nats?: string, from: number }) => { await exportJournal(placeOf(o), o.from, deps.out) })
  journal.command('verify').description('check every record\'s checksum and report what was found')
    .requiredOption('--data <dir>', 'data directory')
    .action(async (o: { data: string }) => { process.exitCode = (await verify(o.data, deps.out)) ? 0 : 1 })
}
