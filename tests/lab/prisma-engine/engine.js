#!/usr/bin/env node
// Test infrastructure: Prisma's query engine for prisma-client-python, where the native binary cannot be had.
//
// prisma-client-python (which LiteLLM uses) starts the native query engine as a process, `ENGINE -p PORT
// --enable-metrics --enable-raw-queries`, with the schema in PRISMA_DML_PATH, and talks GraphQL to it over
// loopback HTTP. This process presents that same interface and runs every request on Prisma's own query
// engine of the same commit compiled to WebAssembly (@prisma/client's query_engine_bg.postgresql.wasm),
// which reaches PostgreSQL through Prisma's JavaScript driver adapter (@prisma/adapter-pg over pg):
//
//   --version                         `query-engine <commit>`
//   GET  /status                      {"status": "ok"} once the engine is connected
//   POST /                            one GraphQL query, or {"batch": [...], "transaction": bool}
//   POST /transaction/start           {"timeout": ms, "max_wait": ms[, "isolation_level": ...]} -> {"id": ...}
//   POST /transaction/ID/commit|rollback
//   GET  /metrics?format=json|prometheus
//
// The WebAssembly engine speaks Prisma's JSON protocol only, so each GraphQL query is translated to it: the
// operation `findUniqueUser` becomes {modelName: "User", action: "findUnique"}, arguments become JSON
// arguments, typed by the schema's DMMF (@prisma/prisma-schema-wasm) so that DateTime, Json, BigInt, Decimal
// and Bytes values carry the `$type` tags the JSON protocol wants, and the selection set becomes a JSON
// selection. Results come back under the alias the GraphQL query gave (`result`), with the JSON protocol's
// tagged values turned back into the plain values the GraphQL protocol returns. Engine errors pass through
// unchanged: they carry the same `user_facing_error` codes (P2002, P2025, ...) the native engine returns, so
// prisma-client-python raises the same exceptions.
'use strict'

const ENGINE_COMMIT = '393aa359c9ad4a4bb28630fb5613f9c281cde053' // Prisma 5.17.0, prisma-client-python 0.15.0

function parseArgs(argv) {
  const args = { port: 4466, host: '127.0.0.1' }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--version' || arg === '-V') args.version = true
    else if (arg === '-p' || arg === '--port') args.port = Number(argv[++i])
    else if (arg === '-H' || arg === '--host') args.host = argv[++i]
    // --enable-metrics, --enable-raw-queries, --enable-playground: always on, or not applicable
  }
  return args
}

const args = parseArgs(process.argv.slice(2))
if (args.version) {
  // prisma-client-python checks this line before every start: answer it without loading the engine.
  process.stdout.write(`query-engine ${ENGINE_COMMIT}\n`)
  process.exit(0)
}

const fs = require('fs')
const http = require('http')
const path = require('path')
const graphql = require('graphql')
const pg = require('pg')
const { parse: parseArray } = require('postgres-array')
const { PrismaPg } = require('@prisma/adapter-pg')
const { bindAdapter } = require('@prisma/driver-adapter-utils')
const schemaWasm = require('@prisma/prisma-schema-wasm')

function log(level, message) {
  // The native engine logs JSON lines (RUST_LOG_FORMAT=json) on stderr.
  process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level, fields: { message } }) + '\n')
}

// --- The schema: datasource URL and DMMF ---------------------------------------------------------------------

function datasourceUrl(schema) {
  if (process.env.OVERWRITE_DATASOURCES) {
    const overrides = JSON.parse(process.env.OVERWRITE_DATASOURCES)
    if (overrides.length && overrides[0].url) return overrides[0].url
  }
  const config = JSON.parse(
    schemaWasm.get_config(
      JSON.stringify({ prismaSchema: schema, datasourceOverrides: {}, ignoreEnvVarErrors: true, env: {} }),
    ),
  )
  const source = config.config.datasources[0]
  if (source.provider !== 'postgresql' && source.provider !== 'postgres') {
    throw new Error(`only PostgreSQL is supported, the schema's datasource is ${source.provider}`)
  }
  const url = source.url.fromEnvVar ? process.env[source.url.fromEnvVar] : source.url.value
  if (!url) throw new Error(`the datasource URL is not set (environment variable ${source.url.fromEnvVar})`)
  return url
}

function typeIndex(dmmf) {
  const outputs = new Map()
  for (const ns of Object.values(dmmf.schema.outputObjectTypes)) for (const t of ns) outputs.set(t.name, t)
  const inputs = new Map()
  for (const ns of Object.values(dmmf.schema.inputObjectTypes)) {
    for (const t of ns) inputs.set(t.name, { ...t, byName: new Map(t.fields.map((f) => [f.name, f])) })
  }
  const fields = (t) => new Map((t ? t.fields : []).map((f) => [f.name, f]))
  return { outputs, inputs, fieldsOf: new Map([...outputs].map(([name, t]) => [name, fields(t)])) }
}

// --- GraphQL -> JSON protocol ------------------------------------------------------------------------------------

const ACTIONS = [
  // longest first: `findUniqueXOrThrow` before `findUniqueX`
  'findUnique',
  'findFirst',
  'findMany',
  'createOne',
  'createMany',
  'updateOne',
  'updateMany',
  'deleteOne',
  'deleteMany',
  'upsertOne',
  'aggregate',
  'groupBy',
]
const TAGGED_SCALARS = new Set(['DateTime', 'Json', 'BigInt', 'Decimal', 'Bytes'])

class TranslationError extends Error {}

function operation(fieldName) {
  if (fieldName === 'executeRaw' || fieldName === 'queryRaw') return { action: fieldName }
  for (const prefix of ACTIONS) {
    if (!fieldName.startsWith(prefix)) continue
    let model = fieldName.slice(prefix.length)
    let action = prefix
    if ((prefix === 'findUnique' || prefix === 'findFirst') && model.endsWith('OrThrow')) {
      model = model.slice(0, -'OrThrow'.length)
      action += 'OrThrow'
    }
    return { action, modelName: model }
  }
  throw new TranslationError(`unknown operation ${fieldName}`)
}

// A GraphQL literal as plain JSON (prisma-client-python never sends variables).
function literal(node) {
  switch (node.kind) {
    case 'StringValue':
    case 'EnumValue':
      return node.value
    case 'IntValue':
      return Number.isSafeInteger(Number(node.value)) ? Number(node.value) : node.value
    case 'FloatValue':
      return Number(node.value)
    case 'BooleanValue':
      return node.value
    case 'NullValue':
      return null
    case 'ListValue':
      return node.values.map(literal)
    case 'ObjectValue':
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]))
    default:
      throw new TranslationError(`unsupported GraphQL value ${node.kind}`)
  }
}

function tag(type, value) {
  if (value === null || typeof value === 'object') return value
  if (type === 'Json') return { $type: 'Json', value: typeof value === 'string' ? value : JSON.stringify(value) }
  return { $type: type, value: String(value) }
}

// VALUE typed by CANDIDATES, the DMMF's inputTypes for the argument or field it is given to.
function typed(index, candidates, value) {
  if (value === null || candidates === undefined) return value
  if (Array.isArray(value)) {
    const listed = candidates.filter((c) => c.isList)
    return value.map((item) => typed(index, listed.length ? listed : candidates, item))
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value)
    const objects = candidates.filter((c) => c.location === 'inputObjectTypes').map((c) => index.inputs.get(c.type))
    const match = objects.find((t) => t && keys.every((k) => t.byName.has(k)))
    if (match) {
      return Object.fromEntries(keys.map((k) => [k, typed(index, match.byName.get(k).inputTypes, value[k])]))
    }
    const json = candidates.find((c) => c.location === 'scalar' && c.type === 'Json')
    return json ? tag('Json', value) : value
  }
  const scalar = candidates.find((c) => c.location === 'scalar' && TAGGED_SCALARS.has(c.type))
  return scalar ? tag(scalar.type, value) : value
}

function argumentsOf(index, node, argDefs) {
  const defs = new Map((argDefs || []).map((a) => [a.name, a]))
  const out = {}
  for (const arg of node.arguments || []) {
    const name = arg.name.value
    const value = literal(arg.value)
    if (value === null) continue
    out[name] = defs.has(name) ? typed(index, defs.get(name).inputTypes, value) : value
  }
  return out
}

function selectionOf(index, selectionSet, outputTypeName) {
  const selection = {}
  if (!selectionSet) return selection
  const fields = index.fieldsOf.get(outputTypeName) || new Map()
  for (const sel of selectionSet.selections) {
    if (sel.kind !== 'Field') throw new TranslationError(`unsupported selection ${sel.kind}`)
    const name = sel.name.value
    const def = fields.get(name)
    if (!sel.selectionSet && !(sel.arguments || []).length) {
      selection[name] = true
      continue
    }
    const nested = { selection: selectionOf(index, sel.selectionSet, def && def.outputType.type) }
    const nestedArgs = argumentsOf(index, sel, def && def.args)
    if (Object.keys(nestedArgs).length) nested.arguments = nestedArgs
    selection[name] = nested
  }
  return selection
}

// One GraphQL document (`query { result: findUniqueX(...) { ... } }`) -> [alias, JSON protocol query].
function translate(index, text) {
  const doc = graphql.parse(text, { noLocation: true })
  const def = doc.definitions[0]
  if (doc.definitions.length !== 1 || def.kind !== 'OperationDefinition' || def.selectionSet.selections.length !== 1) {
    throw new TranslationError('expected one operation with one root field')
  }
  const field = def.selectionSet.selections[0]
  const name = field.name.value
  const alias = field.alias ? field.alias.value : name
  const { action, modelName } = operation(name)
  const root = index.fieldsOf.get(def.operation === 'mutation' ? 'Mutation' : 'Query').get(name)
  if (!root) throw new TranslationError(`unknown ${def.operation} field ${name}`)
  let argsOut
  if (action === 'executeRaw' || action === 'queryRaw') {
    // `parameters` is already the JSON string the engine expects, as in the JSON protocol.
    argsOut = Object.fromEntries((field.arguments || []).map((a) => [a.name.value, literal(a.value)]))
  } else {
    argsOut = argumentsOf(index, field, root.args)
  }
  const query = { action, query: { arguments: argsOut, selection: selectionOf(index, field.selectionSet, root.outputType.type) } }
  if (modelName) query.modelName = modelName
  return [alias, query]
}

// The JSON protocol's tagged values back to what the GraphQL protocol returns: DateTime, Decimal and Bytes as
// strings, Json as its JSON text (prisma-client-python parses it), BigInt as a number when it fits.
function untag(value) {
  if (Array.isArray(value)) return value.map(untag)
  if (value === null || typeof value !== 'object') return value
  if (typeof value.$type === 'string' && 'value' in value && Object.keys(value).length === 2) {
    if (value.$type === 'BigInt' && Number.isSafeInteger(Number(value.value))) return Number(value.value)
    return value.value
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, untag(v)]))
}

// The engine's answer to one query, as the native engine answers GraphQL: {"data": {ALIAS: ...}} or errors.
function graphqlResponse(alias, response) {
  if (response.errors) return { errors: response.errors }
  const values = Object.values(response.data || {})
  return { data: { [alias]: untag(values.length === 1 ? values[0] : null) } }
}

// --- The engine -------------------------------------------------------------------------------------------------

async function loadEngine(schema, url) {
  const runtimeDir = path.join(path.dirname(require.resolve('@prisma/client/package.json')), 'runtime')
  const runtime = require(path.join(runtimeDir, 'query_engine_bg.postgresql.js'))
  const module = new WebAssembly.Module(fs.readFileSync(path.join(runtimeDir, 'query_engine_bg.postgresql.wasm')))
  const instance = new WebAssembly.Instance(module, { './query_engine_bg.js': runtime })
  runtime.__wbg_set_wasm(instance.exports)

  const parsed = new URL(url)
  const max = Number(parsed.searchParams.get('connection_limit')) || 10
  const schemaName = parsed.searchParams.get('schema') || undefined
  // Prisma's own URL parameters mean nothing to pg: leave them out of its connection string.
  for (const key of ['connection_limit', 'pool_timeout', 'schema', 'pgbouncer', 'statement_cache_size', 'socket_timeout']) {
    parsed.searchParams.delete(key)
  }
  const pool = new pg.Pool({ connectionString: parsed.toString(), max })
  readCatalogNamesAsText(PrismaPg)
  countStatements(PrismaPg)
  const adapter = bindAdapter(new PrismaPg(pool, schemaName ? { schema: schemaName } : undefined))
  const engine = new runtime.QueryEngine(
    {
      datamodel: schema,
      env: process.env,
      logQueries: Boolean(process.env.LOG_QUERIES),
      ignoreEnvVarErrors: true,
      datasourceOverrides: {},
      logLevel: 'error',
      configDir: process.cwd(),
      engineProtocol: 'json',
    },
    (line) => {
      const entry = JSON.parse(line)
      if (entry.level === 'ERROR' || entry.level === 'error') log('ERROR', entry.message || line)
    },
    adapter,
  )
  await engine.connect('{}')
  return { engine, pool }
}

// PostgreSQL's catalog types `name` and `name[]` (e.g. pg_views.viewname, which LiteLLM reads with a raw query)
// are unknown to adapter-pg 5.17, which then fails the query ("Failed to deserialize column of type
// 'Unknown'"); the native engine reads them as text. Report them as text and text[]: their text form is the same.
function readCatalogNamesAsText(PrismaPg) {
  const queryable = Object.getPrototypeOf(PrismaPg.prototype) // PgQueryable: the pool's and transactions' base
  if (queryable.performIO.catalogNamesAsText) return
  const performIO = queryable.performIO
  const asText = { 18: 25, 19: 25, 1002: 1009, 1003: 1009 } // char, name, char[], name[] -> text, text[]
  queryable.performIO = async function (query) {
    const result = await performIO.call(this, query)
    if (!result.ok) return result
    ;(result.value.fields || []).forEach((field, i) => {
      if (!asText[field.dataTypeID]) return
      if (asText[field.dataTypeID] === 1009) {
        // pg has no parser for char[] and name[]: their text form, parsed as text[] is
        for (const row of result.value.rows) if (typeof row[i] === 'string') row[i] = parseArray(row[i])
      }
      field.dataTypeID = asText[field.dataTypeID]
    })
    return result
  }
  queryable.performIO.catalogNamesAsText = true
}

// The WebAssembly engine has no metrics ("Metrics is not enabled in Wasm"): this process keeps its own, under
// the native engine's names, in its JSON and Prometheus formats.
const counters = { prisma_client_queries_total: 0, prisma_datasource_queries_total: 0 }

function countStatements(PrismaPg) {
  const queryable = Object.getPrototypeOf(PrismaPg.prototype)
  if (queryable.performIO.counted) return
  const performIO = queryable.performIO
  queryable.performIO = function (query) {
    counters.prisma_datasource_queries_total++
    return performIO.call(this, query)
  }
  queryable.performIO.counted = true
}

function metrics(pool, format, globalLabels) {
  const gauges = {
    prisma_pool_connections_open: pool.totalCount,
    prisma_pool_connections_idle: pool.idleCount,
    prisma_pool_connections_busy: pool.totalCount - pool.idleCount,
    prisma_client_queries_wait: pool.waitingCount,
  }
  const entries = (values) =>
    Object.entries(values).map(([key, value]) => ({ key, labels: { ...globalLabels }, value, description: '' }))
  if (format === 'json') return { counters: entries(counters), gauges: entries(gauges), histograms: [] }
  const labels = Object.entries(globalLabels).map(([k, v]) => `${k}=${JSON.stringify(String(v))}`).join(',')
  const line = (type) => ([key, value]) => `# TYPE ${key} ${type}\n${key}${labels ? `{${labels}}` : ''} ${value}\n`
  return Object.entries(counters).map(line('counter')).join('') + Object.entries(gauges).map(line('gauge')).join('')
}

// --- HTTP --------------------------------------------------------------------------------------------------------

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function send(res, status, body, type = 'application/json') {
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(payload) })
  res.end(payload)
}

function requestError(message) {
  // What the native engine answers for a request it cannot parse.
  return { errors: [{ error: message, user_facing_error: { is_panic: false, message } }] }
}

async function runQuery(engine, index, body, txId) {
  const request = JSON.parse(body)
  if (Array.isArray(request.batch)) {
    const aliases = []
    const batch = request.batch.map((item) => {
      const [alias, query] = translate(index, item.query)
      aliases.push(alias)
      return query
    })
    const jsonBatch = { batch }
    if (request.transaction) jsonBatch.transaction = request.isolation_level ? { isolationLevel: request.isolation_level } : {}
    const response = JSON.parse(await engine.query(JSON.stringify(jsonBatch), '{}', txId))
    if (response.errors) return { errors: response.errors }
    return { batchResult: response.batchResult.map((item, i) => graphqlResponse(aliases[i], item)) }
  }
  const [alias, query] = translate(index, request.query)
  return graphqlResponse(alias, JSON.parse(await engine.query(JSON.stringify(query), '{}', txId)))
}

async function handle(state, req, res) {
  const url = new URL(req.url, 'http://localhost')
  const body = await readBody(req)
  if (req.method === 'GET' && url.pathname === '/status') return send(res, 200, { status: 'ok' })
  if (url.pathname === '/metrics') {
    const format = url.searchParams.get('format') || 'prometheus'
    const globalLabels = body ? JSON.parse(body) : {}
    const answer = metrics(state.pool, format, globalLabels)
    return format === 'json' ? send(res, 200, answer) : send(res, 200, answer, 'text/plain; version=0.0.4')
  }
  if (req.method !== 'POST') return send(res, 404, requestError(`no route ${req.method} ${url.pathname}`))
  if (url.pathname === '/') {
    counters.prisma_client_queries_total++
    const txId = req.headers['x-transaction-id'] || undefined
    try {
      return send(res, 200, await runQuery(state.engine, state.index, body, txId))
    } catch (e) {
      if (e instanceof TranslationError || e instanceof SyntaxError || e instanceof graphql.GraphQLError) {
        return send(res, 422, requestError(e.message))
      }
      throw e
    }
  }
  if (url.pathname === '/transaction/start') {
    const options = body ? JSON.parse(body) : {}
    const tx = { max_wait: options.max_wait ?? 2000, timeout: options.timeout ?? 5000 }
    if (options.isolation_level) tx.isolation_level = options.isolation_level
    return send(res, 200, await state.engine.startTransaction(JSON.stringify(tx), '{}'))
  }
  const match = url.pathname.match(/^\/transaction\/([^/]+)\/(commit|rollback)$/)
  if (match) {
    const [, id, verb] = match
    const answer = verb === 'commit' ? state.engine.commitTransaction(id, '{}') : state.engine.rollbackTransaction(id, '{}')
    return send(res, 200, await answer)
  }
  return send(res, 404, requestError(`no route POST ${url.pathname}`))
}

async function main() {
  const dmlPath = process.env.PRISMA_DML_PATH
  if (!dmlPath) throw new Error('PRISMA_DML_PATH is not set')
  const schema = fs.readFileSync(dmlPath, 'utf8')
  const index = typeIndex(JSON.parse(schemaWasm.get_dmmf(JSON.stringify({ prismaSchema: schema }))))
  const { engine, pool } = await loadEngine(schema, datasourceUrl(schema))
  const state = { engine, index, pool }
  const server = http.createServer((req, res) => {
    handle(state, req, res).catch((e) => {
      log('ERROR', e.stack || String(e))
      if (!res.headersSent) send(res, 500, requestError(String(e.message || e)))
    })
  })
  server.keepAliveTimeout = 60000
  await new Promise((resolve) => server.listen(args.port, args.host, resolve))
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    server.close()
    server.closeAllConnections()
    try {
      await engine.disconnect('{}')
      await pool.end()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e) => {
  log('ERROR', e.stack || String(e))
  process.exit(1)
})
