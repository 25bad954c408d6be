// An example pipeline stage: a panel that reports low battery (Contact ID 302, 309, 311, 384;
// SIA YT, XT) again and again needs a technician. After `reports` such troubles from one account
// within `withinHours`, it emits one `maintenance-due` event, journaled with the id of the
// report that tipped it, and then stays quiet for that account until a restore (qualifier 3,
// SIA YR/XR) clears it.
//
// Use it with: dc09 serve --pipeline examples/pipeline.json
//
// A stage module exports a factory (default export, or `createStage`): it gets the options from
// the pipeline file and an environment ({ accounts, isUser, dataDir, log }), checks the options
// (a bad one stops the receiver at start, not at the first event), and returns { name, run }.
// State goes through ctx.state, which is committed with the pipeline's cursor: after a crash the
// event is run again on the state as it was, so counting here is safe (idempotent by journal id).

const BATTERY_CID = new Set(['302', '309', '311', '384'])
const BATTERY_SIA = new Set(['YT', 'XT'])
const RESTORE_SIA = new Set(['YR', 'XR'])

export default function createStage (options = {}) {
  const reports = options.reports ?? 3
  const withinHours = options.withinHours ?? 24
  if (!Number.isInteger(reports) || reports < 1) throw new Error('battery-watch: reports is a whole number, at least 1')
  if (typeof withinHours !== 'number' || !(withinHours > 0)) throw new Error('battery-watch: withinHours is a positive number')
  const windowMs = withinHours * 3_600_000

  return {
    name: 'battery-watch',
    run ({ record }, ctx) {
      if (record.type !== 'frame') return undefined // only what panels send
      for (const e of record.events) {
        const restore = e.format === 'ADM-CID' ? e.qualifier === '3' && BATTERY_CID.has(e.code) : RESTORE_SIA.has(e.code)
        const trouble = e.format === 'ADM-CID' ? e.qualifier === '1' && BATTERY_CID.has(e.code) : BATTERY_SIA.has(e.code)
        if (restore) ctx.state.delete(record.account)
        if (!trouble) continue
        const st = ctx.state.get(record.account) ?? { times: [], flagged: false }
        st.times = [...st.times.filter((t) => t > ctx.now - windowMs), ctx.now]
        ctx.state.set(record.account, st)
        if (!st.flagged && st.times.length >= reports) {
          st.flagged = true
          ctx.state.set(record.account, st)
          return { emit: [{ kind: 'maintenance-due', account: record.account, data: { reason: 'low battery', reports: st.times.length, withinHours } }] }
        }
      }
      return undefined
    },
  }
}
