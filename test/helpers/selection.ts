// Selections built by walking the schema, so a field added later is covered without anyone
// remembering to add it to a test's query.
import { getNamedType, isLeafType, isNonNullType, isObjectType, type GraphQLObjectType } from "graphql";
import { buildSchema } from "../../src/schema/index.ts";

/**
 * Every field of `typeName` that takes no required argument, with object fields expanded to
 * `depth` levels (lists and connections included). Fields whose names are in `skip` are left out.
 */
export function selectAll(typeName: string, depth: number, skip: ReadonlySet<string> = new Set()): string {
  const type = buildSchema().getType(typeName);
  if (!isObjectType(type)) throw new Error(`${typeName} is not an object type`);
  return select(type, depth, skip);
}

function select(type: GraphQLObjectType, depth: number, skip: ReadonlySet<string>): string {
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (skip.has(field.name) || field.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) parts.push(field.name);
    else if (isObjectType(named) && depth > 0) {
      const inner = select(named, depth - 1, skip);
      if (inner) parts.push(`${field.name} { ${inner} }`);
    }
  }
  return parts.join(" ");
}
