/** classify: what an event is (alarm, restore, trouble, opening, closing, test, ...) and its zone or user, from the code tables. */
import type { Stage, StageResult } from '../stage.js'

export function classify (): Stage {
  return {
    name: 'classify',
    run ({ record }): StageResult {
      if (record.type === 'derived') return { add: { class: record.kind, classes: [record.kind] } }
      if (record.token === 'NULL') return { add: { class: 'link-test', classes: ['link-test'] } }
      const classes = record.events.map((e) => e.class)
      // The most urgent event of the frame names it, with its zone, user and area.
      const first = record.events.find((e) => e.class === 'alarm') ?? record.events[0]
      return {
        add: {
          class: first?.class ?? 'other',
          classes,
          ...(first?.zone === undefined ? {} : { zone: first.zone }),
          ...(first?.user === undefined ? {} : { user: first.user }),
          ...(first !== undefined && first.format === 'SIA-DCS' && first.area !== undefined ? { area: first.area } : {}),
        },
      }
    },
  }
}
