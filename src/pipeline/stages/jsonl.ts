/**
 * jsonl: every event that comes through the pipeline, as one JSON line, to a file or stdout (`-`),
 * so the pipeline's output can be seen and fed to other software. At least once: after a crash
 * the last batch may be written again; the journal id in each line tells a consumer.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stage, StageEnvironment } from '../stage.js'

export interface JsonlOptions {
  /** A file (appended to; relative to the data directory) or `-` for stdout. Default `events.jsonl`. */
  readonly file?: string
}

export function jsonl (options: JsonlOptions, env: StageEnvironment): Stage {
  const file = options.file ?? 'events.jsonl'
  let fh: FileHandle | undefined
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
      if (file === '-') {
        process.stdout.write(line)
        return
      }
      fh ??= await open(file.startsWith('/') ? file : join(env.dataDir, file), 'a', 0o600)
      await fh.write(line)
    },
    async close () {
      await fh?.close()
    },
  }
}
