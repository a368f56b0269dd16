//! What lets one implementation of the store serve SQLite and PostgreSQL: statements are
//! written once, with numbered placeholders (`$1`, which both drivers bind by number), and
//! their arguments are [`Arg`]s that [`Exec`] binds for either database. A [`Dialect`] holds
//! the little that differs: how a write transaction begins, how a list travels (a JSON array
//! for SQLite's `json_each`, an array for PostgreSQL's `= ANY`), and the batch writes, which
//! are `json_each` over one JSON text in SQLite and `UNNEST` over typed arrays (with fences)
//! in PostgreSQL.

use std::borrow::Cow;

use async_trait::async_trait;
use ferry_core::Album;
use sqlx::{
    AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type,
};

use super::rows::NewUnit;
use super::{Fence, Outcome, StagedRow};
use crate::Result;
use crate::job::JobId;

/// A statement: a literal, or one put together from a dialect's fragments.
pub(super) type Sql = Cow<'static, str>;

/// A statement with its arguments, of either database.
pub(super) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// A write transaction of either database.
pub(super) type Tx<DB> = Transaction<'static, DB>;

/// One argument of a statement.
#[derive(Clone, Copy, Debug)]
pub(super) enum Arg<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    MaybeInt(Option<i64>),
    Bytes(&'a [u8]),
    /// A list that the statement reads with [`Dialect::any`].
    List(List<'a>),
}

/// A list argument: a JSON array in SQLite, an array in PostgreSQL.
#[derive(Clone, Copy, Debug, serde::Serialize)]
#[serde(untagged)]
pub(super) enum List<'a> {
    Ints(&'a [i64]),
    Texts(&'a [String]),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::MaybeText(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::MaybeInt(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

impl<'a> From<&'a [i64]> for Arg<'a> {
    fn from(v: &'a [i64]) -> Self {
        Arg::List(List::Ints(v))
    }
}

impl<'a> From<&'a [String]> for Arg<'a> {
    fn from(v: &'a [String]) -> Self {
        Arg::List(List::Texts(v))
    }
}

/// The arguments of a statement, in placeholder order: `args![job, owner]`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::store::sql::Arg::from($arg)),*]
    };
}
pub(super) use args;

/// A row type that both databases decode (what `#[derive(sqlx::FromRow)]` gives).
pub(super) trait Record:
    for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// A listed page to journal: its albums, and its units numbered already.
pub(super) struct Page<'a> {
    pub job: &'a JobId,
    pub source_index: i64,
    pub albums: &'a [Album],
    pub units: Vec<NewUnit<'a>>,
}

/// What both drivers say alike but for their types: how a row decodes, how many rows a
/// statement changed (`QueryResult` has no common trait).
pub(super) trait Driver: Database {
    fn decode<T: Record>(row: &Self::Row) -> sqlx::Result<T>;
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

macro_rules! driver {
    ($db:ty, $row:ty, $done:ty) => {
        impl Driver for $db {
            fn decode<T: Record>(row: &$row) -> sqlx::Result<T> {
                T::from_row(row)
            }

            fn rows_affected(done: &$done) -> u64 {
                done.rows_affected()
            }
        }
    };
}

driver!(
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    sqlx::sqlite::SqliteQueryResult
);
driver!(
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    sqlx::postgres::PgQueryResult
);

/// What differs between SQLite and PostgreSQL.
#[async_trait]
pub(super) trait Dialect: Driver {
    /// The statement that begins a write transaction.
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// A condition that the left side is one of the list at placeholder `$n`.
    fn any(n: u8) -> String;

    /// Binds a list as [`Dialect::any`] reads it.
    fn bind_list<'q>(query: Query<'q, Self>, list: List<'_>) -> Result<Query<'q, Self>>;

    /// Inside [`Store::save_page`](super::Store::save_page)'s transaction, before the units
    /// are numbered: what keeps two writers of one job's pages from numbering alike. Nothing
    /// by default: a write transaction that holds the database's write lock (SQLite's
    /// `BEGIN IMMEDIATE`) is enough.
    async fn lock_job(_tx: &mut Tx<Self>, _job: &JobId) -> Result<()> {
        Ok(())
    }

    /// Journals a page's albums and units.
    async fn insert_page(tx: &mut Tx<Self>, page: Page<'_>) -> Result<()>;

    async fn set_names(pool: &Pool<Self>, job: &JobId, names: &[(i64, String)]) -> Result<()>;

    async fn mark_staged(
        pool: &Pool<Self>,
        job: &JobId,
        rows: &[StagedRow],
        fence: Option<Fence>,
    ) -> Result<()>;

    async fn record_outcomes(
        pool: &Pool<Self>,
        job: &JobId,
        outcomes: &[Outcome],
        fence: Option<Fence>,
    ) -> Result<()>;
}

/// Runs statements written once on either database.
#[async_trait]
pub(super) trait Exec: Send + Sync {
    type Db: Dialect;

    /// A write transaction (`BEGIN IMMEDIATE` in SQLite).
    async fn write(&self) -> Result<Tx<Self::Db>>;
    /// Runs a statement in `tx`, or on its own; how many rows it changed.
    async fn run(
        &self,
        tx: Option<&mut Tx<Self::Db>>,
        sql: impl Into<Sql> + Send,
        args: &[Arg<'_>],
    ) -> Result<u64>;
    async fn all<T: Record>(&self, sql: impl Into<Sql> + Send, args: &[Arg<'_>]) -> Result<Vec<T>>;
    async fn optional<T: Record>(
        &self,
        tx: Option<&mut Tx<Self::Db>>,
        sql: impl Into<Sql> + Send,
        args: &[Arg<'_>],
    ) -> Result<Option<T>>;
}

/// The journal in a SQL database: [`SqliteStore`](super::SqliteStore) or
/// [`PgStore`](super::PgStore). Not `Debug`: PostgreSQL's pool options hold the password.
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> SqlStore<DB> {
    /// The connection pool, for code that keeps its own tables in the same database (the
    /// work queue).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

fn bind<'q, DB: Dialect>(mut query: Query<'q, DB>, args: &[Arg<'_>]) -> Result<Query<'q, DB>>
where
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    for arg in args {
        query = match *arg {
            Arg::Text(v) => query.bind(v),
            Arg::MaybeText(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::MaybeInt(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
            Arg::List(list) => DB::bind_list(query, list)?,
        };
    }
    Ok(query)
}

#[async_trait]
impl<DB: Dialect> Exec for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    type Db = DB;

    async fn write(&self) -> Result<Tx<DB>> {
        Ok(self.pool.begin_with(DB::BEGIN_WRITE).await?)
    }

    async fn run(
        &self,
        tx: Option<&mut Tx<DB>>,
        sql: impl Into<Sql> + Send,
        args: &[Arg<'_>],
    ) -> Result<u64> {
        let query = bind(sqlx::query(AssertSqlSafe(sql.into())), args)?;
        let done = match tx {
            Some(tx) => query.execute(&mut **tx).await?,
            None => query.execute(&self.pool).await?,
        };
        Ok(DB::rows_affected(&done))
    }

    async fn all<T: Record>(&self, sql: impl Into<Sql> + Send, args: &[Arg<'_>]) -> Result<Vec<T>> {
        let query = bind(sqlx::query(AssertSqlSafe(sql.into())), args)?;
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(DB::decode)
            .collect::<sqlx::Result<Vec<T>>>()?)
    }

    async fn optional<T: Record>(
        &self,
        tx: Option<&mut Tx<DB>>,
        sql: impl Into<Sql> + Send,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        let query = bind(sqlx::query(AssertSqlSafe(sql.into())), args)?;
        let row = match tx {
            Some(tx) => query.fetch_optional(&mut **tx).await?,
            None => query.fetch_optional(&self.pool).await?,
        };
        Ok(row.as_ref().map(DB::decode).transpose()?)
    }
}
