/* A deterministic SQL workload for the SQLite amalgamation (tests/integration/bigprogram.py):
 * tables filled by recursive CTEs, indexes, joins, aggregates, window functions, JSON,
 * FTS5 and R*Tree, in an in-memory database. Every result row is printed, so the native
 * build's stdout is the oracle. Usage: sqlite_workload [ROWS] (default 20000). */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static int print_row(void *unused, int n, char **vals, char **names) {
    (void)unused;
    (void)names;
    for (int i = 0; i < n; i++)
        printf("%s%s", i ? "|" : "", vals[i] ? vals[i] : "NULL");
    printf("\n");
    return 0;
}

static void run(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, print_row, NULL, &err) != SQLITE_OK) {
        printf("error: %s\n  in: %s\n", err, sql);
        sqlite3_free(err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 20000;
    sqlite3 *db;
    char sql[512];
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return 1;
    printf("sqlite %s\n", sqlite3_libversion());
    run(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL)");
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<%d) "
             "INSERT INTO t SELECT i, (i*7919)%%1000, printf('n%%05d', (i*31)%%%d), "
             "i*0.5 FROM c", rows, rows);
    run(db, sql);
    run(db, "CREATE INDEX t_k ON t(k)");
    run(db, "SELECT count(*), sum(k), total(v), min(name), max(name) FROM t");
    run(db, "SELECT k, count(*), sum(id) FROM t WHERE k < 5 GROUP BY k ORDER BY k");
    run(db, "CREATE TABLE u AS SELECT k, group_concat(id % 10, '') AS d FROM t "
            "WHERE id % 97 = 0 GROUP BY k");
    run(db, "SELECT count(*), sum(length(d)) FROM u");
    run(db, "SELECT t.k, count(*) FROM t JOIN u ON t.k = u.k GROUP BY t.k "
            "ORDER BY 2 DESC, 1 LIMIT 5");
    run(db, "SELECT id, k, rank() OVER (PARTITION BY k ORDER BY id DESC), "
            "sum(id) OVER (ORDER BY id ROWS 2 PRECEDING) FROM t WHERE k = 42 LIMIT 6");
    run(db, "SELECT json_group_array(json_object('id', id, 'k', k)) FROM "
            "(SELECT id, k FROM t ORDER BY v DESC LIMIT 4)");
    run(db, "SELECT json_extract('{\"a\":[1,2,{\"b\":\"x\"}]}', '$.a[2].b'), "
            "printf('%.6f', sqrt(2.0) * pi()), hex(zeroblob(3)), quote(x'00ff')");
    run(db, "CREATE VIRTUAL TABLE doc USING fts5(body)");
    run(db, "INSERT INTO doc SELECT printf('word%d alpha%d beta%d', k % 50, id % 13, "
            "id % 7) FROM t WHERE id <= 5000");
    run(db, "SELECT count(*) FROM doc WHERE doc MATCH 'word7 AND alpha3'");
    run(db, "SELECT rowid, highlight(doc, 0, '[', ']') FROM doc WHERE doc MATCH "
            "'beta5 AND word11' ORDER BY rowid LIMIT 3");
    run(db, "CREATE VIRTUAL TABLE box USING rtree(id, x0, x1, y0, y1)");
    run(db, "INSERT INTO box SELECT id, k, k + 10, id % 100, id % 100 + 5 FROM t "
            "WHERE id <= 3000");
    run(db, "SELECT count(*) FROM box WHERE x0 <= 500 AND x1 >= 495 AND y0 <= 50 "
            "AND y1 >= 48");
    run(db, "UPDATE t SET name = upper(name), v = v * 2 WHERE k % 3 = 0");
    run(db, "DELETE FROM t WHERE k > 900");
    run(db, "SELECT count(*), sum(v), count(DISTINCT substr(name, 1, 1)) FROM t");
    run(db, "SELECT k, max(v) FROM t GROUP BY k HAVING count(*) > 19 ORDER BY k LIMIT 4");
    run(db, "PRAGMA integrity_check");
    sqlite3_close(db);
    printf("done\n");
    return 0;
}
