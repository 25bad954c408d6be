/** What SyncBridge and its thread exchange: requests by message, answers in shared memory. */

/** Slots of the control array: the state (idle or done), the id of the request answered, the answer's length. */
export const CTL_STATE = 0
export const CTL_ID = 1
export const CTL_LEN = 2
export const CTL_IDLE = 0
export const CTL_DONE = 1

export interface BridgeData {
  readonly servers: readonly string[]
  readonly name: string
  readonly timeoutMs: number
  readonly ctl: SharedArrayBuffer
  readonly heads: SharedArrayBuffer
  readonly out: SharedArrayBuffer
}

/** How many subjects a bridge can follow the last sequence of. */
export const HEAD_SLOTS = 256

export type BridgeRequest =
  | { readonly id: number, readonly op: 'watch', readonly subject: string }
  | { readonly id: number, readonly op: 'last', readonly subject: string }
  | { readonly id: number, readonly op: 'fetch', readonly subject: string, readonly from: number, readonly maxBytes: number }
  | { readonly id: number, readonly op: 'publish', readonly subject: string, readonly data: string, readonly msgID: string, readonly expect: number }

export type BridgeResponse =
  | { readonly ok: true, readonly seq?: number, readonly slot?: number, readonly duplicate?: boolean, readonly msgs?: ReadonlyArray<{ readonly seq: number, readonly data: string }> }
  | { readonly ok: false, readonly kind: 'conflict' | 'unavailable' | 'error', readonly message: string }
