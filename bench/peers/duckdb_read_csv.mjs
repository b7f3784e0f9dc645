// Times DuckDB loading a CSV into a table: node duckdb_read_csv.mjs FILE THREADS
// Prints the seconds spent in CREATE TABLE ... AS SELECT * FROM read_csv(...).
import { DuckDBInstance } from '@duckdb/node-api';

const [file, threads] = process.argv.slice(2);
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const conn = await instance.connect();
const escaped = file.replaceAll("'", "''");
const t0 = process.hrtime.bigint();
await conn.run(`CREATE TABLE t AS SELECT * FROM read_csv('${escaped}')`);
const t1 = process.hrtime.bigint();
const rows = await conn.runAndReadAll('SELECT count(*) FROM t');
console.log(`${Number(t1 - t0) / 1e9} ${rows.getRows()[0][0]}`);
