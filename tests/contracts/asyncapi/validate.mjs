// Validate an AsyncAPI document with the official parser; print its diagnostics as JSON
// ({severity: 0 error, 1 warning, 2 info, 3 hint}) and exit 1 if any is an error.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
const found = diagnostics.map((d) => ({
  code: d.code, severity: d.severity, message: d.message, path: d.path.join("/"),
}));
console.log(JSON.stringify({ valid: document !== undefined, diagnostics: found }));
process.exit(found.some((d) => d.severity === 0) || document === undefined ? 1 : 0);
