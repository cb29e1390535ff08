// Validates a JSON document against a JSON Schema (draft-07) with ajv: used to check speedscope
// exports against the schema the speedscope npm package ships. Usage: node validate_schema.mjs SCHEMA DOC
import Ajv from "ajv";
import { readFileSync } from "node:fs";

const [schemaPath, docPath] = process.argv.slice(2);
if (!schemaPath || !docPath) {
  console.error("usage: node validate_schema.mjs SCHEMA.json DOCUMENT.json");
  process.exit(2);
}
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
if (!validate(doc)) {
  console.error(`${docPath}: does not validate against ${schemaPath}:`);
  for (const e of validate.errors.slice(0, 20)) {
    console.error(`  ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
  process.exit(1);
}
console.log(`${docPath}: valid against ${schemaPath}`);
