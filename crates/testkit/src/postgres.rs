//! Throwaway PostgreSQL databases for tests: one fresh database per test, on the cluster that
//! `scripts/postgres start` (run by `scripts/test`) names in `FERRY_TEST_DATABASE_URL`.

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

/// The environment variable naming a PostgreSQL server where tests may `CREATE DATABASE`.
pub const DATABASE_URL_VAR: &str = "FERRY_TEST_DATABASE_URL";

/// Creates a new, empty database `ferry_test_<random hex>` on the server that
/// `FERRY_TEST_DATABASE_URL` names and returns its URL. The databases are never dropped:
/// the test cluster is thrown away whole.
///
/// # Panics
///
/// When the variable is unset, or the server cannot be reached: a test without its database
/// must fail, never pass quietly.
pub async fn fresh_database() -> String {
    let Ok(server) = std::env::var(DATABASE_URL_VAR) else {
        panic!(
            "FERRY_TEST_DATABASE_URL is not set: run scripts/test, or eval \"$(scripts/postgres start)\""
        );
    };
    let name = format!("ferry_test_{:032x}", rand::random::<u128>());
    let mut conn = match PgConnection::connect(&server).await {
        Ok(conn) => conn,
        Err(err) => panic!("cannot connect to {DATABASE_URL_VAR}: {err}"),
    };
    // The name is ours (hex digits only): safe to splice into the statement.
    if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
    {
        panic!("cannot create a test database on {DATABASE_URL_VAR}: {err}");
    }
    let _ = conn.close().await;
    with_database(&server, &name)
}

/// `url` with its database (the path) replaced by `name`, the query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1?sslmode=disable", "t2"),
            "postgres://u:p@h:1/t2?sslmode=disable"
        );
    }
}
