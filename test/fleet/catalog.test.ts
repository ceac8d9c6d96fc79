// Deploying a catalog entry: the image at a version, and the names of required secrets.
import { describe, expect, it } from "vitest";
import { imageAt, requiredSecrets } from "../../src/fleet/catalog.ts";

describe("imageAt", () => {
  it.each([
    ["ghcr.io/acme/weather", "1.2", "ghcr.io/acme/weather:1.2"],
    ["ghcr.io/acme/weather:latest", "1.2", "ghcr.io/acme/weather:1.2"],
    ["registry.local:5000/weather", "2", "registry.local:5000/weather:2"],
    ["registry.local:5000/weather:1", "2", "registry.local:5000/weather:2"],
    ["ghcr.io/acme/weather@sha256:abc", "2", "ghcr.io/acme/weather@sha256:abc"],
  ])("%s at %s is %s", (image, version, expected) => {
    expect(imageAt(image, version)).toBe(expected);
  });
});

describe("requiredSecrets", () => {
  it("reads names, and objects with name or key unless marked not required", () => {
    expect(requiredSecrets(["A", { name: "B" }, { key: "C" }, { name: "D", required: false }, 7, null])).toEqual(["A", "B", "C"]);
    expect(requiredSecrets({ not: "a list" })).toEqual([]);
  });
});
