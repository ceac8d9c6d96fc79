// The helper that lets concurrent pages share a statement, on its own: who shares, and how much.
import { describe, expect, it } from "vitest";
import { StatementBatches } from "../../src/data/statement-batches.ts";

/** Batches whose statement returns a row per key it is given (but never "missing"), recording each run's keys. */
function recorded(maxKeys?: number) {
  const runs: string[][] = [];
  const batches = new StatementBatches<{ id: string }>(
    async (_text, keys) => {
      runs.push(keys);
      return keys.filter((k) => k !== "missing").map((id) => ({ id }));
    },
    (row) => row.id,
    maxKeys,
  );
  return { runs, batches };
}

describe("statement batches", () => {
  it("sends the loads of one turn as one statement, and gives each only the rows of its keys", async () => {
    const { runs, batches } = recorded();
    const [a, b, c] = await Promise.all([batches.load("q", ["1", "2"]), batches.load("q", ["2", "3"]), batches.load("q", ["missing"])]);
    expect(runs).toEqual([["1", "2", "3", "missing"]]);
    expect([a, b, c]).toEqual([[{ id: "1" }, { id: "2" }], [{ id: "2" }, { id: "3" }], []]);
  });

  it("keeps statements of different texts apart, and loads of later turns in statements of their own", async () => {
    const { runs, batches } = recorded();
    await Promise.all([batches.load("q", ["1"]), batches.load("other", ["1"])]);
    await batches.load("q", ["2"]);
    expect(runs).toEqual([["1"], ["1"], ["2"]]);
  });

  it("sends a full batch as it is and starts the next with the keys that did not fit, never splitting a load", async () => {
    const { runs, batches } = recorded(3);
    const loads = await Promise.all([batches.load("q", ["1", "2"]), batches.load("q", ["3", "4"]), batches.load("q", ["5"])]);
    expect(runs).toEqual([
      ["1", "2"],
      ["3", "4", "5"],
    ]);
    expect(loads.map((rows) => rows.map((r) => r.id))).toEqual([["1", "2"], ["3", "4"], ["5"]]);
  });

  it("fails every load of a statement that fails, also one whose runner throws before it sends anything", async () => {
    const batches = new StatementBatches<{ id: string }>(
      () => {
        throw new Error("no connection");
      },
      (row) => row.id,
    );
    const loads = await Promise.allSettled([batches.load("q", ["1"]), batches.load("q", ["2"])]);
    expect(loads.map((l) => (l.status === "rejected" ? (l.reason as Error).message : l.status))).toEqual(["no connection", "no connection"]);
  });
});
