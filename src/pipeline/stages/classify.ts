/** classify: what an event is (alarm, restore, trouble, opening, closing, test, ...) and its zone or user, from the code tables. */
import type { Stage, StageResult } from '../stage.js'

export function classify (): Stage {
  return {
    name: 'classify',
    run ({ record }): StageResult {
      if (record.type === 'derived') return { add: { class: record.kind, classes: [record.kind] } }
      if (record.token === 'NULL') return { add: { class: 'link-test', classes: ['link-test'] } }
      const classes = record.events.map((e) => e.class)
      const first = record.events[0]
      return {
        add: {
          // The most urgent class of the frame's events names it.
          class: classes.includes('alarm') ? 'alarm' : classes[0] ?? 'other',
          classes,
          ...(first?.zone === undefined ? {} : { zone: first.zone }),
          ...(first?.user === undefined ? {} : { user: first.user }),
          ...(first !== undefined && first.format === 'SIA-DCS' && first.area !== undefined ? { area: first.area } : {}),
        },
      }
    },
  }
}
