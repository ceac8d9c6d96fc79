// One statement for concurrent requests: a read by keys (`... WHERE e.id = ANY($1::uuid[])`) that
// several requests ask for in the same turn of the event loop is sent once, over the union of their
// keys, and each request gets the rows of its own keys. Under load this saves a round trip per
// request (sending a statement, a write that wakes Postgres, is among the API's costliest calls:
// BENCHMARKS.md, session 15).
//
// Nothing a request sees changes: the statement is sent after every request in it asked (in the
// event loop's next check phase), so each still sees all that was committed before it asked; and
// the keys must come from rows a request could already see (never from what a client sent), so a
// request is only handed rows of its own keys.
export class StatementBatches<Row> {
  private readonly pending = new Map<string, Batch<Row>>();

  constructor(
    private readonly run: (text: string, keys: string[]) => Promise<Row[]>,
    private readonly keyOf: (row: Row) => string,
    /** Keys per statement at most (a request's own keys are never split). */
    private readonly maxKeys = 5_000,
  ) {}

  /** The rows of `keys` that `text` (whose only parameter is the key array) reads. */
  load(text: string, keys: readonly string[]): Promise<Row[]> {
    let batch = this.pending.get(text);
    // A full batch is sent as it is; the keys start the next one.
    if (!batch || batch.keys.size + keys.length > this.maxKeys) {
      const next: Batch<Row> = { keys: new Set(), waiters: [] };
      this.pending.set(text, next);
      setImmediate(() => void this.send(text, next));
      batch = next;
    }
    for (const key of keys) batch.keys.add(key);
    const waiters = batch.waiters;
    return new Promise((resolve, reject) => waiters.push({ keys, resolve, reject }));
  }

  private async send(text: string, batch: Batch<Row>) {
    if (this.pending.get(text) === batch) this.pending.delete(text);
    let rows: Row[];
    try {
      rows = await this.run(text, [...batch.keys]);
    } catch (error) {
      for (const w of batch.waiters) w.reject(error);
      return;
    }
    if (batch.waiters.length === 1) return batch.waiters[0].resolve(rows);
    const byKey = new Map(rows.map((row) => [this.keyOf(row), row]));
    for (const w of batch.waiters) w.resolve(w.keys.flatMap((key) => byKey.get(key) ?? []));
  }
}

interface Batch<Row> {
  keys: Set<string>;
  waiters: { keys: readonly string[]; resolve(rows: Row[]): void; reject(error: unknown): void }[];
}
