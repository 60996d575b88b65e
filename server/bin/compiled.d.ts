/** Types of compiled.js (plain JavaScript: it runs before anything is compiled). */
export declare const ROOT: string;
export declare const DIST: string;
export declare const STAMP: string;
export declare const SOURCE_DIRS: readonly string[];
export declare function sourceFiles(): string[];
export declare function compiledEntry(): string | undefined;
