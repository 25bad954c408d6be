/** `dc09 pipeline status|dead-letters` and `dc09 cases list`: read the pipeline's state (works while the receiver runs). */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { readJournal } from '../../journal/file-journal.js'
import type { Case } from '../../pipeline/stages/cases.js'
import { PipelineStore } from '../../pipeline/store.js'
import { printable, safeJson } from '../escape.js'
import type { Command } from 'commander'
import type { CliDeps } from '../deps.js'

export type Out = (s: string) => void

function withStore<T> (data: string, fn: (s: PipelineStore) => T): T | undefined {
  if (!existsSync(join(data, 'pipeline.db'))) return undefined
  const store = new PipelineStore(data)
  try {
    return fn(store)
  } finally {
    store.close()
  }
}

/**
 * The last journal id, read from the pipeline's cursor on, without the lock, and when the first
 * record the pipeline has not run was received.
 */
async function journalAfter (data: string, from: number): Promise<{ last: number, firstAt: number | undefined }> {
  let last = from - 1
  let firstAt: number | undefined
  for await (const r of readJournal<{ receivedAt: number }>(join(data, 'journal'), from)) {
    firstAt ??= r.receivedAt
    last = r.id
  }
  return { last, firstAt }
}

export async function status (data: string, json: boolean, out: Out, now = Date.now()): Promise<number> {
  const s = withStore(data, (store) => ({ cursor: store.cursor(), deadLetters: store.deadLetterCount() }))
  const cursor = s?.cursor ?? 0
  const { last, firstAt } = await journalAfter(data, cursor + 1)
  const lag = Math.max(0, last - cursor)
  // How long the oldest event not yet run has waited: what an alarm among them waits for its case.
  const lagSeconds = lag === 0 || firstAt === undefined ? 0 : Math.max(0, Math.round((now - firstAt) / 100) / 10)
  const r = { cursor, journalLastId: last, lag, lagSeconds, deadLetters: s?.deadLetters ?? 0 }
  if (json) out(JSON.stringify(r) + '\n')
  else out(`pipeline at journal id ${r.cursor} of ${r.journalLastId} (${r.lag} behind, ${r.lagSeconds} s); ${r.deadLetters} event(s) in the dead-letter list\n`)
  return 0
}

export function deadLetters (data: string, json: boolean, out: Out): number {
  const list = withStore(data, (store) => store.deadLetters()) ?? []
  for (const d of list) {
    if (json) out(safeJson(d) + '\n')
    else out(printable(`${d.at} stage ${d.stage} ${d.timer === '' ? `event ${d.id}` : `timer ${d.timer}`}: ${d.error} (after ${d.attempts} attempts)`) + '\n')
  }
  if (!json && list.length === 0) out('the dead-letter list is empty\n')
  return 0
}

export function listCases (data: string, o: { all: boolean, account?: string | undefined, json: boolean }, out: Out): number {
  const cases = (withStore(data, (store) => store.read<Case>('cases', 'case:')) ?? [])
    .map(([, c]) => c)
    .filter((c) => (o.all || c.state === 'open') && (o.account === undefined || c.account === o.account.toUpperCase()))
  for (const c of cases) {
    if (o.json) {
      out(safeJson({ ...c, openedAt: new Date(c.openedAt).toISOString(), cancelUntil: new Date(c.cancelUntil).toISOString(), verifyBy: new Date(c.verifyBy).toISOString(), ...(c.closedAt === undefined ? {} : { closedAt: new Date(c.closedAt).toISOString() }) }) + '\n')
    } else {
      const flags = [c.duress ? 'DURESS' : '', c.escalated ? 'escalated' : ''].filter((f) => f !== '').join(', ')
      out(printable(`case ${c.id} account ${c.account} ${c.state}${c.closedBy === undefined ? '' : ` by ${c.closedBy}`}${flags === '' ? '' : ` [${flags}]`}: opened ${new Date(c.openedAt).toISOString()}, ${c.alarms ?? c.events.length} alarm frame(s)`) + '\n')
    }
  }
  if (!o.json && cases.length === 0) out(o.all ? 'no cases\n' : 'no open cases\n')
  return 0
}

export function register (program: Command, deps: CliDeps): void {
  const pipe = program.command('pipeline').description('the event pipeline\'s progress (works while the receiver runs)')
  pipe.command('status').description('where the pipeline is in the journal, and how many events are parked')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON')
    .action(async (o: { data: string, json?: boolean }) => { process.exitCode = await status(o.data, o.json === true, deps.out) })
  pipe.command('dead-letters').description('events a stage failed on after its retries, with the error')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON lines')
    .action((o: { data: string, json?: boolean }) => { process.exitCode = deadLetters(o.data, o.json === true, deps.out) })

  program.command('cases').description('alarm cases').command('list').description('open cases (or all with --all)')
    .requiredOption('--data <dir>', 'data directory').option('--all', 'closed cases too').option('--account <number>', 'only this account\'s').option('--json', 'as JSON lines')
    .action((o: { data: string, all?: boolean, account?: string, json?: boolean }) => { process.exitCode = listCases(o.data, { all: o.all === true, account: o.account, json: o.json === true }, deps.out) })
}
