// Files read at run time (schema/, src/dashboard/, scripts/, browser builds in node_modules/) are
// found from the package's root. This module sits one level below it both in the sources (src/)
// and in the build (dist/: one bundle, its chunks beside it), so one relative URL serves both.
import { fileURLToPath } from "node:url";

const PACKAGE_ROOT = new URL("../", import.meta.url);

/** A file or folder of the package, as a path. */
export const packagePath = (relative: string): string => fileURLToPath(new URL(relative, PACKAGE_ROOT));
