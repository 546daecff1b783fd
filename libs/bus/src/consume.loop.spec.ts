import type { BusConsumer, ConsumedMsg, MessageFeed } from './bus.types.js';
import { ConsumeLoop } from './consume.loop.js';

/** A feed that hands over `seqs` and then stays silent until closed, as a stuck consumer does. */
function silentAfter(seqs: number[]): MessageFeed<ConsumedMsg> {
  let closed!: () => void;
  const closing = new Promise<void>((r) => (closed = r));
  return {
    async *[Symbol.asyncIterator]() {
      for (const seq of seqs) yield { seq, subject: 'lm.out.s.main' } as ConsumedMsg;
      await closing;
    },
    stop: () => closed(),
    close: async () => closed(),
  };
}

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('ConsumeLoop stall watchdog', () => {
  it('reopens a consumer that went silent while the stream holds more, from the last message handled', async () => {
    const opened: (number | undefined)[] = [];
    const handled: number[] = [];
    const feeds = [[1, 2], [3]];
    const loop = new ConsumeLoop(
      'output consumer',
      async (after) => {
        opened.push(after);
        const seqs = feeds.shift() ?? [];
        return { consume: async () => silentAfter(seqs) } as unknown as BusConsumer;
      },
      (m) => void handled.push(m.seq),
      quiet,
      // The stream ends at 3.
      { stall: { afterMs: 200, behind: async (last) => (last ?? 0) < 3 } },
    );
    await loop.start();
    for (let i = 0; i < 50 && handled.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    // Caught up: no further reopen, however long it stays silent.
    await new Promise((r) => setTimeout(r, 600));
    await loop.stop();
    expect(handled).toEqual([1, 2, 3]);
    expect(opened).toEqual([undefined, 2]);
  });

  it('leaves a silent consumer alone while the stream holds nothing more, or cannot say', async () => {
    let opens = 0;
    const loop = new ConsumeLoop(
      'output consumer',
      async () => {
        opens++;
        return { consume: async () => silentAfter([1]) } as unknown as BusConsumer;
      },
      () => undefined,
      quiet,
      { stall: { afterMs: 100, behind: async (last) => (last === 1 ? Promise.reject(new Error('election')) : true) } },
    );
    await loop.start();
    await new Promise((r) => setTimeout(r, 500));
    await loop.stop();
    expect(opens).toBe(1);
  });
});
