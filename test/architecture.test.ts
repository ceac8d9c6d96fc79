// The layering of src/ (see ../shared/DESIGN.md), checked over the import statements themselves, so
// a change that crosses a line fails here rather than in review.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** Every .ts file under src/, relative to it ("data/store.ts"). */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [relative(SRC, join(dir, e.name))] : [],
  );
}

interface Import {
  /** A file under src/ ("live/hub.ts"), or a package or node: module ("graphql", "node:net"). */
  target: string;
  typeOnly: boolean;
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(join(SRC, file), "utf8");
  const found: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4];
    const target = spec.startsWith(".")
      ? relative(SRC, resolve(dirname(join(SRC, file)), spec))
      : spec
          .split("/")
          .slice(0, spec.startsWith("@") ? 2 : 1)
          .join("/");
    found.push({ target, typeOnly: !!m[2] });
  }
  return found;
}

const files = sources();
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const layer = (file: string) => file.split("/")[0];
const GRAPHQL = /^(graphql|graphql-yoga|graphql-ws|graphql-jit|graphql-scalars|@pothos\/.*|@envelop\/.*|@graphql-yoga\/.*|@escape\.tech\/.*)$/;

/** The imports of files in `from` that break `rule` (type-only imports count too, unless allowed). */
function offending(from: string, rule: (i: Import) => boolean, { typesAllowed = false } = {}): string[] {
  return [...graph]
    .filter(([f]) => layer(f) === from)
    .flatMap(([f, imports]) => imports.filter((i) => !(typesAllowed && i.typeOnly) && rule(i)).map((i) => `${f} -> ${i.target}`));
}

describe("layering", () => {
  it("reads the imports it checks", () => {
    expect(files.length).toBeGreaterThan(40);
    expect(graph.get("live/fleet.ts")!.map((i) => i.target)).toEqual(expect.arrayContaining(["data/store.ts", "live/hub.ts"]));
  });

  it("data/ knows no GraphQL, and nothing above it (schema, live, http, app, fleet)", () => {
    expect(offending("data", (i) => GRAPHQL.test(i.target) || ["schema", "live", "http", "app", "fleet"].includes(layer(i.target)))).toEqual([]);
  });

  it("live/ knows no GraphQL, no viewer, and nothing of the schema or the transport", () => {
    expect(
      offending("live", (i) => GRAPHQL.test(i.target) || i.target === "auth/visibility.ts" || ["schema", "http", "app"].includes(layer(i.target))),
    ).toEqual([]);
  });

  it("fleet/ knows no GraphQL, the schema or the transport", () => {
    expect(offending("fleet", (i) => GRAPHQL.test(i.target) || ["schema", "http", "app"].includes(layer(i.target)))).toEqual([]);
  });

  it("domain/ does no I/O: it imports only itself and address arithmetic", () => {
    expect(offending("domain", (i) => layer(i.target) !== "domain" && i.target !== "node:net" && i.target !== "ipaddr.js")).toEqual([]);
  });

  it("nothing imports demo/ but the demo command (main.ts) and demo/ itself", () => {
    const importers = [...graph].filter(([f, imports]) => layer(f) !== "demo" && imports.some((i) => layer(i.target) === "demo")).map(([f]) => f);
    expect(importers).toEqual(["main.ts"]);
  });

  it("has no import cycles (type-only imports aside)", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "open");
      for (const i of graph.get(file) ?? []) if (!i.typeOnly && graph.has(i.target)) visit(i.target, [...path, file]);
      state.set(file, "done");
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
