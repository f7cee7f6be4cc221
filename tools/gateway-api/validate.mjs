// Validate Gateway API objects against their schemas: `node validate.mjs FILE`, FILE a JSON array
// of objects. Prints one line per invalid object and exits 1 if there is any.
import { readFile } from "node:fs/promises";
import * as v1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";

const models = { "gateway.networking.k8s.io/v1": v1 };
let invalid = 0;
for (const object of JSON.parse(await readFile(process.argv[2], "utf8"))) {
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = models[object.apiVersion]?.[object.kind];
  try {
    if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
    new Model(object).validate();
  } catch (error) {
    console.log(`${name}: ${error.message}`);
    invalid += 1;
  }
}
process.exit(invalid ? 1 : 0);
