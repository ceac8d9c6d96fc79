// Types for pglite-template.mjs (plain JavaScript, so that it runs at install before anything is built).
import type { PGlite } from "@electric-sql/pglite";

export function templatePath(): string;
export function templateDirPath(): string;
export function readTemplate(): Blob | undefined;
export function writeTemplate(db: PGlite): Promise<boolean>;
export function openNew(PGliteClass: typeof PGlite, dataDir: string | undefined, startParams?: string[]): Promise<PGlite>;
export function createEmbedded(dataDir: string | undefined, startParams?: string[], setup?: string[]): Promise<void>;
