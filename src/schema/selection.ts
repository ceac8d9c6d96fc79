// Which fields a client selected below the current field, so a list reads only the columns its
// response needs. Fragments (named and inline) are followed; @skip/@include are ignored, which can
// only read more than needed, never less.
import { Kind, type FieldNode, type GraphQLObjectType, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";

/** Names of the fields selected at `path` below the current field (e.g. ["edges", "node"]). */
export function selectedFields(info: GraphQLResolveInfo, path: readonly string[]): Set<string> {
  let level: FieldNode[] = [...info.fieldNodes];
  for (const name of path) level = childFields(level, info).filter((f) => f.name.value === name);
  return new Set(childFields(level, info).map((f) => f.name.value));
}

function childFields(fields: FieldNode[], info: GraphQLResolveInfo): FieldNode[] {
  const found: FieldNode[] = [];
  const visit = (set: SelectionSetNode | undefined) => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) found.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else visit(info.fragments[selection.name.value]?.selectionSet);
    }
  };
  for (const field of fields) visit(field.selectionSet);
  return found;
}

/** What a field reads: columns of its own row, and (for a server's fields) of its droplet's row. */
export interface Reads {
  own: readonly string[];
  environment?: readonly string[];
  /** Also what the fields selected below it declare (an object of the row's values, such as a server's status). */
  nested?: boolean;
}

/**
 * Field options declaring what the field reads, so a page selects only the columns its response
 * needs: `t.string({ ...reads(["name"]), resolve })`. A field without a declaration makes a page
 * that selects it read every column (a test checks every field has one).
 */
export function reads<C extends string, E extends string = never>(own: readonly C[], environment?: readonly E[]): { extensions: { reads: Reads } } {
  return { extensions: { reads: environment ? { own, environment } : { own } } };
}

/** For a field whose object is made of the row's values: it reads what its selected fields declare. */
export const readsBelow = { extensions: { reads: { own: [], nested: true } satisfies Reads } };

const NOTHING: Reads = { own: [] };
const declared = new WeakMap<GraphQLObjectType, Map<string, Reads>>();

/** Each field's declaration, read from the schema once per type. */
export function declaredReads(type: GraphQLObjectType): Map<string, Reads> {
  let byField = declared.get(type);
  if (!byField) {
    // The id comes from the key, which is always read.
    byField = new Map([
      ["__typename", NOTHING],
      ["id", NOTHING],
    ]);
    for (const field of Object.values(type.getFields())) {
      const r = field.extensions?.reads as Reads | undefined;
      if (r) byField.set(field.name, r);
    }
    declared.set(type, byField);
  }
  return byField;
}

/**
 * The columns of its own row that the selected `fields` of `type` read, plus `extra`; undefined
 * (read every column) if a selected field declares nothing. With `of: "environment"`, what they
 * read of their droplet instead.
 */
export function columnsFor<C extends string>(
  type: GraphQLObjectType,
  fields: Iterable<string>,
  extra: readonly C[] = [],
  of: "own" | "environment" = "own",
  /** The fields selected below a field (for a field that reads what they declare). */
  below?: (field: string) => Set<string>,
): C[] | undefined {
  const byField = declaredReads(type);
  const columns = new Set<C>(extra);
  for (const field of fields) {
    const r = byField.get(field);
    if (!r) {
      if (of === "own") return undefined;
      continue;
    }
    for (const c of r[of] ?? []) columns.add(c as C);
    if (r.nested && of === "own") {
      const inner = type.getFields()[field]?.type;
      const object = (inner && "ofType" in inner ? inner.ofType : inner) as GraphQLObjectType | undefined;
      if (!below || !object || !("getFields" in object)) return undefined;
      const nested = columnsFor<C>(object, below(field));
      if (!nested) return undefined;
      for (const c of nested) columns.add(c);
    }
  }
  return [...columns];
}
