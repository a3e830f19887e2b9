// Reads a JSON array of jambonz documents (each an array of verbs) on stdin and checks each
// with @jambonz/verb-specifications, the validator the jambonz feature-server itself runs.
// Prints a JSON array with, per document, null (valid) or the error message.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { validate } = require('@jambonz/verb-specifications');

const logger = { info() {}, debug() {}, error() {}, warn() {} };
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const documents = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const results = documents.map((doc) => {
  try {
    validate(logger, doc);
    return null;
  } catch (err) {
    return String(err && err.message ? err.message : err);
  }
});
process.stdout.write(JSON.stringify(results));
