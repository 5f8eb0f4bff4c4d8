// node har_validate.mjs FILE: validate FILE against the HAR 1.2 schema (npm har-validator).
// Prints VALID, or INVALID and the schema's errors (exit status 1).
import { readFileSync } from "node:fs";
import validate from "har-validator";

const har = JSON.parse(readFileSync(process.argv[2], "utf8"));
validate.har(har).then(
  () => console.log("VALID"),
  (error) => {
    console.log("INVALID " + JSON.stringify(error.errors || error.message));
    process.exit(1);
  },
);
