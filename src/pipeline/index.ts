/**
 * What a pipeline stage's author needs (`dc09/pipeline`): the stage interface, the records a
 * stage is given, and the helpers for account numbers that change hands. The test harness is
 * `dc09/pipeline/testing`.
 */
export {
  ACCOUNT_REMOVED, holderOf, isAccountRemoved,
  type Emit, type PipelineEvent, type Stage, type StageContext, type StageEnvironment, type StageFactory, type StageResult, type StageState,
} from './stage.js'
export type { DerivedRecord, EventRecord, FrameRecord } from '../journal/record.js'
export type { Stored } from '../journal/journal.js'
export type { DecodedEvent } from '../protocol/index.js'
export type { PipelineConfig, StageSpec } from './loader.js'
export type { DeadLetter } from './store.js'
