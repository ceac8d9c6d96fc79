// The in-process fan-out: ordered delivery, bounded queues, nothing left behind.
import { describe, expect, it } from "vitest";
import { Hub, SubscriberTooSlowError } from "../../src/live/hub.ts";

describe("Hub", () => {
  it("delivers what a subscriber accepts, in order, from the moment it subscribed", async () => {
    const hub = new Hub<number>();
    hub.publish(0);
    const odd = hub.subscribe((n) => n % 2 === 1);
    for (let n = 1; n <= 5; n++) hub.publish(n);
    expect([(await odd.next()).value, (await odd.next()).value, (await odd.next()).value]).toEqual([1, 3, 5]);
    await odd.return!();
    expect(hub.size).toBe(0);
  });

  it("disconnects a subscriber more than 10,000 events behind, telling it to resubscribe with `after`", async () => {
    const hub = new Hub<number>();
    const slow = hub.subscribe(() => true);
    const fast = hub.subscribe(() => true);
    for (let n = 0; n < 10_000; n++) {
      hub.publish(n);
      await fast.next();
    }
    expect(hub.size).toBe(2); // exactly at the bound: still connected
    hub.publish(10_000);
    expect(hub.size).toBe(1);
    await expect(slow.next()).rejects.toThrow(SubscriberTooSlowError);
    await expect(slow.next()).rejects.toThrow(/resubscribe with .* as `after`/);
    expect((await fast.next()).value).toBe(10_000);
    await fast.return!();
  });
});
