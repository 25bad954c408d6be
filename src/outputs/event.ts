/**
 * The one outward form of a journaled record (OutputEvent): what MQTT and webhooks send as JSON
 * and what the Sur-Gard records are made from. Built field by field from what the record holds,
 * so nothing reaches an output by accident: never the frame's raw bytes, the AES key, a code,
 * a token or the VIP marker; the site and its keyholders only when the output asks for them.
 */
import type { Account } from '../accounts/account.js'
import type { Stored } from '../journal/journal.js'
import type { EventRecord } from '../journal/record.js'
import { holderOf } from '../pipeline/stage.js'
import type { DecodedEvent } from '../protocol/index.js'
import type { OutputEvent, OutputEventItem } from './output.js'

/** Field names a receiver-made event's data may never carry outward, whatever made it. */
const SECRET_FIELD = /^(code|codes|pin|key|keytext|token|tokens|secret|pepper|password|vip|hash)$/i

function item (e: DecodedEvent): OutputEventItem {
  if (e.format === 'ADM-CID') {
    return {
      format: 'ADM-CID', qualifier: e.qualifier, code: e.code, group: e.group, number: e.number, class: e.class,
      ...(e.name === undefined ? {} : { name: e.name }),
      ...(e.zone === undefined ? {} : { zone: e.zone }),
      ...(e.user === undefined ? {} : { user: e.user }),
    }
  }
  const text = e.text ?? e.asciiText ?? e.extendedText
  return {
    format: 'SIA-DCS', block: e.block, code: e.code, class: e.class,
    ...(e.number === undefined ? {} : { number: e.number }),
    ...(e.name === undefined ? {} : { name: e.name }),
    ...(e.zone === undefined ? {} : { zone: e.zone }),
    ...(e.user === undefined ? {} : { user: e.user }),
    ...(e.area === undefined ? {} : { area: e.area }),
    ...(Object.keys(e.modifiers).length === 0 ? {} : { modifiers: e.modifiers }),
    ...(text === undefined ? {} : { text }),
  }
}

/** What a frame is, as the classify stage names it: a link test, else its most urgent event's class. */
export function frameClass (events: readonly DecodedEvent[], token: string): string {
  if (token === 'NULL') return 'link-test'
  return (events.find((e) => e.class === 'alarm') ?? events[0])?.class ?? 'other'
}

/** Top-level fields of a receiver-made event's data, without any that could be a secret. */
function cleanData (data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) if (!SECRET_FIELD.test(k)) out[k] = v
  return out
}

/**
 * The outward form of a record. `account`: the account registered under the record's number now
 * (its tenant and site are used only when it is the holder the record names); `personal`: add
 * the site, address and keyholders.
 */
export function toOutputEvent (record: Stored<EventRecord>, account: Account | undefined, personal: boolean): OutputEvent {
  const holder = holderOf(record, account)
  const own = account !== undefined && holder === account.createdAt ? account : undefined
  const base = { id: record.id, at: new Date(record.receivedAt).toISOString(), tenant: own?.tenant ?? null, account: record.account }
  const site = personal && own !== undefined && (own.siteName !== undefined || own.siteAddress !== undefined || own.keyholders.length > 0)
    ? { site: { name: own.siteName, address: own.siteAddress, keyholders: own.keyholders.map((k) => ({ name: k.name, phone: k.phone, order: k.order })) } }
    : {}
  if (record.type === 'derived') {
    return { ...base, type: record.kind, class: record.kind, by: record.stage, causedBy: record.causedBy, data: cleanData(record.data), ...site }
  }
  return {
    ...base,
    type: 'frame',
    class: frameClass(record.events, record.token),
    protocol: record.token,
    ...(record.rcvr === undefined || record.rcvr === null ? {} : { receiver: record.rcvr }),
    ...(record.lpref === undefined || record.lpref === null ? {} : { line: record.lpref }),
    seq: record.seq,
    events: record.events.map(item),
    ...(record.text === undefined || record.text === null ? {} : { text: record.text }),
    ...site,
  }
}
