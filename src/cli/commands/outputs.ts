/**
 * `dc09 outputs status|dead-letters|retry|replay`: each output's position, totals and dead
 * letters, read from the pipeline's store (they work while the receiver runs, and in a cluster
 * from any node); retry and replay are journaled as commands, which the output does when it
 * reaches them, in order, whichever node runs it.
 */
import type { Command } from 'commander'
import type { DerivedRecord } from '../../journal/record.js'
import type { PipelineStore } from '../../pipeline/pipeline-store.js'
import { OUTPUT_REPLAY, OUTPUT_RETRY, OUTPUTS_STAGE, outputStage, RECEIVER_ACCOUNT, REGISTRY_STAGE, type OutputTotals, type ParkedEvent } from '../../outputs/runner.js'
import type { OutputStatus } from '../../outputs/output.js'
import { printable, safeJson } from '../escape.js'
import type { CliDeps } from '../deps.js'
import { appendEvent, placeOf, placeOptions, withPipelineStore, type Place } from '../stores.js'
import { journalAfter } from './pipeline.js'

export type Out = (s: string) => void
type Given = { data?: string, nats?: string }

interface OutputRow extends OutputTotals {
  readonly name: string
  readonly type: string
  readonly cursor: number
  readonly lag: number
  /** In its dead letters now. */
  readonly deadLetters: number
  /** What the node running it last wrote of its connection (undefined: never reported). */
  readonly state: OutputStatus['state'] | 'unknown'
  readonly connected: number
  readonly reportedAt: string | null
}

/** The outputs that ever ran here, with their state. */
function rows (store: PipelineStore, last: number): OutputRow[] {
  return store.read<{ type: string }>(REGISTRY_STAGE, 'output:').map(([key, v]) => {
    const name = key.slice('output:'.length)
    const stage = outputStage(name)
    const cursor = store.cursor(stage)
    const totals = store.readOne<OutputTotals>(stage, 'stats') ?? { delivered: 0, retried: 0, parked: 0 }
    const live = store.readOne<OutputStatus & { at: string }>(stage, 'live')
    return {
      name, type: v.type, cursor, lag: Math.max(0, last - cursor), delivered: totals.delivered, retried: totals.retried, parked: totals.parked,
      deadLetters: store.read(stage, 'parked:').length, state: live?.state ?? 'unknown', connected: live?.connected ?? 0, reportedAt: live?.at ?? null,
    }
  })
}

export async function status (place: Place, json: boolean, out: Out): Promise<number> {
  const behind = withPipelineStore(place, (s) => Math.min(...rows(s, 0).map((r) => r.cursor))) ?? Infinity
  // The journal's end, read from the output furthest behind on.
  const { last } = behind === Infinity ? { last: 0 } : await journalAfter(place, behind + 1)
  const list = withPipelineStore(place, (s) => rows(s, last)) ?? []
  for (const r of list) {
    if (json) out(safeJson(r) + '\n')
    else out(printable(`output ${r.name} (${r.type}): at journal id ${r.cursor} of ${last} (${r.lag} behind); ${r.delivered} delivered, ${r.retried} retried, ${r.parked} parked, ${r.deadLetters} in its dead letters; ${r.state}${r.type === 'surgard' ? `, ${r.connected} automation client(s)` : ''}${r.reportedAt === null ? '' : ` (as of ${r.reportedAt})`}`) + '\n')
  }
  if (!json && list.length === 0) out('no output has run with this data\n')
  return 0
}

function known (place: Place, name: string, out: Out): boolean {
  const found = withPipelineStore(place, (s) => s.readOne(REGISTRY_STAGE, `output:${name}`)) !== undefined
  if (!found) out(printable(`no output named ${name} has run with this data (dc09 outputs status lists them)`) + '\n')
  return found
}

export function deadLetters (place: Place, name: string, json: boolean, out: Out, err: Out): number {
  if (!known(place, name, err)) return 1
  const list = withPipelineStore(place, (s) => s.read<ParkedEvent>(outputStage(name), 'parked:')) ?? []
  for (const [, p] of list) {
    if (json) out(safeJson(p) + '\n')
    else out(printable(`${p.at} event ${p.id} (account ${p.account}): ${p.error} (after ${p.attempts} attempt(s); parked ${p.times} time(s))`) + '\n')
  }
  if (!json && list.length === 0) out(printable(`output ${name} has no dead letters`) + '\n')
  return 0
}

/** Journals a command for an output. */
async function command (place: Place, kind: string, data: Record<string, unknown>): Promise<number> {
  const record: DerivedRecord = { type: 'derived', receivedAt: Date.now(), kind, account: RECEIVER_ACCOUNT, holder: '', stage: OUTPUTS_STAGE, causedBy: 0, n: Date.now(), data }
  return await appendEvent(place, record)
}

export async function retry (place: Place, name: string, out: Out, err: Out): Promise<number> {
  if (!known(place, name, err)) return 1
  const n = withPipelineStore(place, (s) => s.read(outputStage(name), 'parked:').length) ?? 0
  const id = await command(place, OUTPUT_RETRY, { output: name })
  out(printable(`journaled as event ${id}: output ${name} sends its ${n} parked event(s) again when it reaches it (dc09 outputs status shows where it is)`) + '\n')
  return 0
}

export async function replay (place: Place, name: string, from: number, out: Out, err: Out): Promise<number> {
  if (!known(place, name, err)) return 1
  const id = await command(place, OUTPUT_REPLAY, { output: name, from })
  out(printable(`journaled as event ${id}: output ${name} sends the events from journal id ${from} to ${id - 1} again when it reaches it, then goes on`) + '\n')
  return 0
}

function parseId (v: string): number {
  if (!/^[0-9]{1,15}$/.test(v) || Number(v) < 1) throw new Error('--from must be a journal id (1 or more)')
  return Number(v)
}

export function register (program: Command, deps: CliDeps): void {
  const outputs = program.command('outputs').description('the outputs (Sur-Gard automation, MQTT, webhooks): where each is, its dead letters, sending again')
  placeOptions(outputs.command('status').description('each output\'s position, lag, totals, dead letters and connection'))
    .option('--json', 'as JSON lines')
    .action(async (o: Given & { json?: boolean }) => { process.exitCode = await status(placeOf(o), o.json === true, deps.out) })
  placeOptions(outputs.command('dead-letters').description('the events an output gave up on, with the reason'))
    .requiredOption('--output <name>', 'the output')
    .option('--json', 'as JSON lines')
    .action((o: Given & { output: string, json?: boolean }) => { process.exitCode = deadLetters(placeOf(o), o.output, o.json === true, deps.out, deps.err) })
  placeOptions(outputs.command('retry').description('send an output\'s parked events again (journaled; done when the output reaches it)'))
    .requiredOption('--output <name>', 'the output')
    .action(async (o: Given & { output: string }) => { process.exitCode = await retry(placeOf(o), o.output, deps.out, deps.err) })
  placeOptions(outputs.command('replay').description('send an output the events from a journal id on again (an automation database restored from a backup)'))
    .requiredOption('--output <name>', 'the output')
    .requiredOption('--from <id>', 'the first journal id to send again', parseId)
    .action(async (o: Given & { output: string, from: number }) => { process.exitCode = await replay(placeOf(o), o.output, o.from, deps.out, deps.err) })
}
