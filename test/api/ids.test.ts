// Global ids: the fast encoder gives the relay plugin's text, and parseId reads it back.
import { randomUUID } from "node:crypto";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { describe, expect, it } from "vitest";
import { encodeNodeId, nodeIdEncoder, parseId } from "../../src/schema/ids.ts";

describe("encodeNodeId", () => {
  it("gives the same text as the relay plugin for UUIDs, and parseId reads it back", () => {
    for (let i = 0; i < 200; i++) {
      const id = randomUUID();
      for (const typename of ["MCPServer", "Environment", "ConnectionTest"]) {
        expect(encodeNodeId(typename, id)).toBe(encodeGlobalID(typename, id));
        expect(parseId(encodeNodeId(typename, id), typename)).toBe(id);
      }
    }
  });

  it("falls back to UTF-8 for text btoa cannot take, or would encode differently", () => {
    for (const id of ["café", "名前", "emoji-😀", "\u00ff"]) {
      expect(encodeNodeId("MCPServer", id)).toBe(encodeGlobalID("MCPServer", id));
      expect(decodeGlobalID(encodeNodeId("MCPServer", id))).toEqual({ typename: "MCPServer", id });
    }
  });
});

describe("nodeIdEncoder", () => {
  it("encodes as encodeNodeId does, and starts over past its limit", () => {
    const encode = nodeIdEncoder("Environment", 2);
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const round of [1, 2]) for (const id of [...ids, ids[0]]) expect(encode(id), `round ${round}`).toBe(encodeGlobalID("Environment", id));
  });
});
