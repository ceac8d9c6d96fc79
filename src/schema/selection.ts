// Which fields a client selected below the current field, so a list reads only the columns its
// response needs. Fragments (named and inline) are followed; @skip/@include are ignored, which can
// only read more than needed, never less.
import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";

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

/**
 * The columns that the selected `fields` read, by a table of field -> columns, plus `extra`;
 * undefined (read every column) if a field is not in the table.
 */
export function columnsFor<C>(table: Record<string, readonly C[]>, fields: Iterable<string>, extra: readonly C[] = []): C[] | undefined {
  const columns = new Set<C>(extra);
  for (const field of fields) {
    const needs = table[field];
    if (!needs) return undefined;
    for (const c of needs) columns.add(c);
  }
  return [...columns];
}
