/** `dc09 pipeline status|dead-letters` and `dc09 cases list`: read the pipeline's state (works while the receiver runs). */
import { join } from 'node:path'
import { readJournal } from '../../journal/file-journal.js'
import type { Case } from '../../pipeline/stages/cases.js'
import { printable, safeJson } from '../escape.js'
import type { Command } from 'commander'
import type { CliDeps } from '../deps.js'
import { placeOf, placeOptions, withClusterJournal, withPipelineStore, type Place } from '../stores.js'

export type Out = (s: string) => void
/** Options as given: a data directory and the cluster's servers, either of which may be absent. */
type Given = { data?: string, nats?: string }

/**
 * The last journal id, read from the pipeline's cursor on, without the lock, and when the first
 * record the pipeline has not run was received.
 */
export async function journalAfter (data: Place, from: number): Promise<{ last: number, firstAt: number | undefined }> {
  if (typeof data !== 'string') {
    // The stream says its last sequence; only the first record not run is read.
    return await withClusterJournal(data, async (j) => {
      const last = Math.max(from - 1, await j.lastSequence())
      if (last < from) return { last, firstAt: undefined }
      const records = j.read(from)[Symbol.asyncIterator]()
      const first = await records.next()
      await records.return?.()
      return { last, firstAt: first.done === true ? undefined : first.value.receivedAt }
    })
  }
  let last = from - 1
  let firstAt: number | undefined
  for await (const r of readJournal<{ receivedAt: number }>(join(data, 'journal'), from)) {
    firstAt ??= r.receivedAt
    last = r.id
  }
  return { last, firstAt }
}

export async function status (data: Place, json: boolean, out: Out, now = Date.now()): Promise<number> {
  const s = withPipelineStore(data, (store) => ({ cursor: store.cursor(), deadLetters: store.deadLetterCount() }))
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

export function deadLetters (data: Place, json: boolean, out: Out): number {
  const list = withPipelineStore(data, (store) => store.deadLetters()) ?? []
  for (const d of list) {
    if (json) out(safeJson(d) + '\n')
    else out(printable(`${d.at} stage ${d.stage} ${d.timer === '' ? `event ${d.id}` : `timer ${d.timer}`}: ${d.error} (after ${d.attempts} attempts)`) + '\n')
  }
  if (!json && list.length === 0) out('the dead-letter list is empty\n')
  return 0
}

export function listCases (data: Place, o: { all: boolean, account?: string | undefined, json: boolean }, out: Out): number {
  const cases = (withPipelineStore(data, (store) => store.read<Case>('cases', 'case:')) ?? [])
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
  placeOptions(pipe.command('status').description('where the pipeline is in the journal, and how many events are parked'))
    .option('--json', 'as JSON')
    .action(async (o: Given & { json?: boolean }) => { process.exitCode = await status(placeOf(o), o.json === true, deps.out) })
  placeOptions(pipe.command('dead-letters').description('events a stage failed on after its retries, with the error'))
    .option('--json', 'as JSON lines')
    .action((o: Given & { json?: boolean }) => { process.exitCode = deadLetters(placeOf(o), o.json === true, deps.out) })

  placeOptions(program.command('cases').description('alarm cases').command('list').description('open cases (or all with --all)'))
    .option('--all', 'closed cases too').option('--account <number>', 'only this account\'s').option('--json', 'as JSON lines')
    .action((o: Given & { all?: boolean, account?: string, json?: boolean }) => { process.exitCode = listCases(placeOf(o), { all: o.all === true, account: o.account, json: o.json === true }, deps.out) })
}
