/**
 * jsonl: every event that comes through the pipeline, as one JSON line, to a file or stdout (`-`),
 * so the pipeline's output can be seen and fed to other software. At least once: after a crash
 * the last batch may be written again; the journal id in each line tells a consumer.
 *
 * The lines of a batch of events are written together, at the end of the batch (`flush`, before
 * the runner commits the batch's cursor), in one write: a line is in the file before its event
 * counts as run, as when it was written event by event. At most MAX_BUFFERED_BYTES wait.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stage, StageEnvironment } from '../stage.js'

export interface JsonlOptions {
  /** A file (appended to; relative to the data directory) or `-` for stdout. Default `events.jsonl`. */
  readonly file?: string
}

/** Lines held for the end of the batch at most (more are written at once). */
const MAX_BUFFERED_BYTES = 1 << 20

export function jsonl (options: JsonlOptions, env: StageEnvironment): Stage {
  const file = options.file ?? 'events.jsonl'
  let fh: FileHandle | undefined
  let lines: string[] = []
  let buffered = 0
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return
    const text = lines.join('')
    lines = []
    buffered = 0
    if (file === '-') {
      process.stdout.write(text)
      return
    }
    fh ??= await open(file.startsWith('/') ? file : join(env.dataDir, file), 'a', 0o600)
    await fh.write(text)
  }
  return {
    name: 'jsonl',
    async run ({ record, annotations }) {
      const r = record
      const line = JSON.stringify({
        id: r.id,
        at: new Date(r.receivedAt).toISOString(),
        account: r.account,
        ...(r.type === 'frame'
          ? { type: 'frame', token: r.token, seq: r.seq, events: r.events.map((e) => ({ code: e.code, class: e.class, ...(e.zone === undefined ? {} : { zone: e.zone }), ...(e.user === undefined ? {} : { user: e.user }) })), flags: r.flags }
          : { type: r.kind, by: r.stage, causedBy: r.causedBy, data: r.data }),
        ...(annotations.class === undefined ? {} : { class: annotations.class }),
      }) + '\n'
      lines.push(line)
      buffered += line.length
      if (buffered >= MAX_BUFFERED_BYTES) await flush()
    },
    flush,
    async close () {
      await flush()
      await fh?.close()
    },
  }
}
