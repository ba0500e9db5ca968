import type { Measure } from './measure.ts';
import { writeHeldState, type DeltaOps, type HeldState, type SpeedFace } from './speed-face.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A partition's state of a cell, stored as the measure's serialized text. */
class WholeState<State> implements HeldState {
  unwritten = false;

  constructor(
    public state: State,
    private readonly serialize: (state: State) => string,
  ) {}

  toBytes(): Uint8Array {
    return encoder.encode(this.serialize(this.state));
  }
}

/** The monoid a whole-state speed face is built from. */
type Monoid<State> = Pick<Measure<State>, 'zero' | 'add' | 'merge' | 'serialize' | 'deserialize'>;

/**
 * The speed face of a measure whose state Redis cannot merge by increments (a variance's mean and M2, a
 * quantile sketch): a pending delta is the monoid's own state; at the checkpoint it is merged into the
 * partition's held state of the cell, which is written whole ({@link PartitionStorage}); readers merge the
 * partitions' states. `isEmpty` tells a delta that saw no value (nothing to write).
 */
export function wholeStateSpeedFace<State>(monoid: Monoid<State>, isEmpty: (state: State) => boolean): SpeedFace<State> {
  const deltas: DeltaOps = {
    zero: () => monoid.zero(),
    add: (delta, value) => monoid.add(delta as State, value),
    merge: (into, from) => monoid.merge(into as State, from as State),
    emitCells: (program, target, cells, measureIndex) => {
      for (const [groupKey, { deltas }] of cells) {
        const delta = deltas[measureIndex] as State;
        if (isEmpty(delta)) continue;
        target.groupKey = groupKey;
        const held = target.heldState() as WholeState<State>;
        held.state = monoid.merge(held.state, delta);
        writeHeldState(program, target, held);
      }
    },
  };
  const stored = (bytes: Uint8Array): State => monoid.deserialize(decoder.decode(bytes));
  return {
    deltas,
    storage: {
      type: 'partitions',
      empty: () => new WholeState(monoid.zero(), monoid.serialize),
      restore: (bytes) => new WholeState(stored(bytes), monoid.serialize),
      fromPartitions: (parts) => parts.reduce((merged, bytes) => monoid.merge(merged, stored(bytes)), monoid.zero()),
    },
  };
}
