/**
 * A pipeline stage: a small interface, run for every journaled event in order.
 * Built-in stages are named in the pipeline configuration; a user's own stage is a module that
 * exports a factory (like a pino transport). Stages are checked when the pipeline is loaded.
 */
import type { AccountStore } from '../accounts/account-store.js'
import type { Account } from '../accounts/account.js'
import type { Stored } from '../journal/journal.js'
import type { Logger } from '../log.js'
import type { EventRecord } from '../journal/record.js'

/**
 * The end of one holder of an account number: an account was removed (by the HTTP interface or
 * `dc09 accounts remove`), and the number may be given to someone else. It is journaled before
 * the account is deleted, so every stage meets it in order: what came before it in the journal
 * was the removed holder's, what comes after is not. A stage that keeps state by account number
 * drops that state here (the built-in ones do), or the next holder of the number inherits it.
 * `data`: `createdAt` (the removed account's, which names that holder), `tenant`, `by`.
 */
export const ACCOUNT_REMOVED = { kind: 'account-removed', stage: 'accounts' } as const

/** Whether a record is an account removal (made by the one producer that may make it). */
export function isAccountRemoved (record: EventRecord): boolean {
  return record.type === 'derived' && record.kind === ACCOUNT_REMOVED.kind && record.stage === ACCOUNT_REMOVED.stage
}

/**
 * Whose event a record is: the holder of its account number (that account's `createdAt`) when it
 * was received or made, as the record names it. The account there is now may be a later holder's:
 * the pipeline may reach an event only after its holder was removed and the number taken again,
 * so a stage that keeps state by account number asks this, never the store alone. A record from
 * before records named their holder is judged against `current` (the account there is now): one
 * older than it is an earlier holder's, which one unknown (`null`); any other is taken for the
 * current holder's. Undefined: no holder (an unregistered account's frame, an event of no account).
 */
export function holderOf (record: EventRecord, current: Pick<Account, 'createdAt'> | undefined): string | null | undefined {
  if (record.holder !== undefined) return record.holder
  if (current === undefined) return undefined
  return record.receivedAt < Date.parse(current.createdAt) ? null : current.createdAt
}

/** One journaled event on its way through the stages (a frame with its events in full). */
export interface PipelineEvent {
  readonly record: Stored<EventRecord>
  /** What earlier stages added to it (classify adds `class`, ...). */
  readonly annotations: Readonly<Record<string, unknown>>
}

/** An event a stage makes; journaled with the id of its cause. */
export interface Emit {
  readonly kind: string
  readonly account: string
  readonly data?: Readonly<Record<string, unknown>> | undefined
  /** Default: the event being run. Timer-made events name the event that set the timer. */
  readonly causedBy?: number | undefined
  /**
   * The holder of the account number it is about (see `holderOf`). Default: the holder the event
   * being run names; a timer-made event, or one about another holder's state, names its own.
   */
  readonly holder?: string | undefined
}

export interface StageResult {
  /** Added to the event for the stages after this one. */
  readonly add?: Readonly<Record<string, unknown>> | undefined
  readonly emit?: readonly Emit[] | undefined
}

/**
 * A stage's own state: kept with the pipeline's cursor and written together with it, so that an
 * event replayed after a crash finds the state as it was before that event (idempotent by
 * journal id). Values are JSON.
 */
export interface StageState {
  get<T> (key: string): T | undefined
  set (key: string, value: unknown): void
  delete (key: string): void
  /** Keys and values under a prefix, in key order. */
  list<T> (prefix: string): Array<[string, T]>
  /**
   * Keys and values from `from` to `to` (both included), in key order: one read for a page of
   * keys, rather than one each. Optional: a state without it is read key by key.
   */
  range?<T> (from: string, to: string): Array<[string, T]>
}

export interface StageContext {
  readonly state: StageState
  /** The time of what is being run: the event's receive time, or the timer's due time (never the wall clock, so replays decide alike). */
  readonly now: number
  /** Wakes `due(key)` at `at` (epoch ms); scheduling a key again moves it. */
  schedule (key: string, at: number): void
  /** Whether a timer is set under `key`. */
  scheduled (key: string): boolean
  cancel (key: string): void
  readonly log: Logger
  /**
   * In `start` only: commits what the start has written so far (state and timers) and yields to
   * the event loop, so that a start over a million accounts works in pages, each its own
   * transaction, and the process stays responsive. `state`, `schedule` and `cancel` of the
   * context go on to the next page.
   */
  readonly checkpoint?: (() => Promise<void>) | undefined
}

/** What every stage can reach. */
export interface StageEnvironment {
  readonly accounts: AccountStore
  /** Whether a user number is one the account has (verification users). */
  readonly isUser: (account: string, user: number) => boolean
  readonly dataDir: string
  readonly log: Logger
}

export interface Stage {
  readonly name: string
  /** At start, before the first event: rebuild timers from state. `now` is the start time. */
  start? (ctx: StageContext): void | Promise<void>
  run (event: PipelineEvent, ctx: StageContext): StageResult | void | Promise<StageResult | void>
  /** A timer this stage scheduled is due. */
  due? (key: string, ctx: StageContext): StageResult | void | Promise<StageResult | void>
  /**
   * After a batch of events has run, before its state and the cursor are committed: write out
   * what `run` buffered. A failure here fails the batch, which is run again (at least once).
   */
  flush? (): void | Promise<void>
  close? (): void | Promise<void>
}

/** What a stage module exports (default export or `createStage`). */
export type StageFactory = (options: Readonly<Record<string, unknown>>, env: StageEnvironment) => Stage | Promise<Stage>
