/** Both PipelineStore backends against the one conformance suite. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryPipelineStore } from '../../../src/pipeline/memory-store.js'
import { SqlitePipelineStore } from '../../../src/pipeline/store.js'
import { pipelineStoreSuite } from '../../conformance/pipeline-store.suite.js'

pipelineStoreSuite('MemoryPipelineStore', () => ({ store: new MemoryPipelineStore() }))
pipelineStoreSuite('SqlitePipelineStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-pstore-'))
  return {
    store: new SqlitePipelineStore(dir),
    reopen: () => new SqlitePipelineStore(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})
pipelineStoreSuite('SqlitePipelineStore with a cache of 2 values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-pstore-'))
  return {
    store: new SqlitePipelineStore(dir, { cacheEntries: 2 }),
    reopen: () => new SqlitePipelineStore(dir, { cacheEntries: 2 }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})
