// mongod docker entrypoint script (mongosh): creates LearnGraph's collections with their
// validators and indexes from collections.json (the same file `learngraph migrate up` applies).
// No password lives here: the application user is created only when LEARNGRAPH_MONGO_PASSWORD
// is set in the container's environment (from a secret, for a server that runs with
// authorization as deploy/mongod.conf does; the docker-compose setup runs without it).
const fs = require('fs');

const dbName = process.env.MONGO_INITDB_DATABASE || 'learngraph';
const spec = JSON.parse(fs.readFileSync('/docker-entrypoint-initdb.d/collections.json', 'utf8'));
db = db.getSiblingDB(dbName);

const appUser = process.env.LEARNGRAPH_MONGO_USER || 'learngraph';
const appPassword = process.env.LEARNGRAPH_MONGO_PASSWORD;
// clusterMonitor: the admin `ops` query's $indexStats
if (appPassword && !db.getUser(appUser)) {
  db.createUser({ user: appUser, pwd: appPassword, roles: [{ role: 'readWrite', db: dbName }, { role: 'dbAdmin', db: dbName }, { role: 'clusterMonitor', db: 'admin' }] });
}

const existing = new Set(db.getCollectionNames());
for (const c of spec.collections) {
  const opts = { validator: c.validator, validationLevel: 'strict', validationAction: 'error' };
  if (existing.has(c.name)) {
    db.runCommand(Object.assign({ collMod: c.name }, opts));
  } else {
    db.createCollection(c.name, opts);
  }
  for (const ix of c.indexes) {
    const key = {};
    for (const [field, kind] of ix.key) key[field] = kind;
    const options = { name: ix.name };
    if (ix.unique) options.unique = true;
    if (ix.expireAfterSeconds !== undefined) options.expireAfterSeconds = ix.expireAfterSeconds;
    if (ix.weights) options.weights = ix.weights;
    db.getCollection(c.name).createIndex(key, options);
  }
}
print('learngraph: collections, validators and indexes are in place');
