//! The lease protocol of the two tables whose rows one process works on for a while:
//! background actions (`bcgraph_background_action`, run by a worker) and syncs
//! (`bigcommerce_sync`, run by a `Syncer`).
//!
//! - **claim**: a row is taken by setting it `running` with `lease_until` one lease
//!   ahead; a sync only while no live lease is on it (the queue picks and locks its
//!   candidate in a transaction first, then takes it unconditionally);
//! - **renew**: the holder pushes `lease_until` forward every third of the lease
//!   ([`Beats`]), with an UPDATE conditional on the row still being `running` and still
//!   its own, so a cancel, an abort or a takeover is never overwritten;
//! - **end**: the final (or next) state is written only while the row is in one of the
//!   states it may leave (`running` for the holder; also `created` or `waiting` for an
//!   abort or a cancel), and the lease is freed.
//!
//! Another process may claim a row whose lease has run out: its holder died.
//!
//! The tables differ in how they store times ([`Clock`]: milliseconds for the queue,
//! timestamps for the sync) and in how a holder knows its row ([`Lease::held_by`]: the
//! queue's `worker` column, the sync's `lease_until` as last written). Their own
//! columns ride along in each statement ([`Sets`]).

use crate::query::sql::Sql;
use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, Statement, Value};
use std::time::Duration;

/// The state of a row whose lease is held, in both tables.
pub(crate) const RUNNING: &str = "running";

/// How a table stores its times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clock {
    /// Milliseconds since the epoch in a BIGINT column (the queue).
    Millis,
    /// A timestamp column, as SeaORM binds chrono times (the sync).
    Timestamp,
}

impl Clock {
    /// `time` as the table stores it.
    pub(crate) fn at(self, time: DateTime<Utc>) -> Value {
        match self {
            Clock::Millis => time.timestamp_millis().into(),
            Clock::Timestamp => time.into(),
        }
    }
}

/// When a lease of `length` taken or renewed at `now` runs out.
pub(crate) fn until(now: DateTime<Utc>, length: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(length).unwrap_or_default()
}

/// The rows one statement of the protocol touches, and how their holder is recognised.
pub(crate) struct Lease {
    table: &'static str,
    clock: Clock,
    key: (&'static str, Value),
    holder: Option<(&'static str, Value)>,
}

/// The table's own columns set along with the protocol's.
pub(crate) struct Sets<'a> {
    sql: &'a mut Sql,
    clock: Clock,
}

impl Sets<'_> {
    /// `, "column" = value`
    pub(crate) fn value(&mut self, column: &str, value: Value) -> &mut Self {
        self.sql.push(", ").ident(column).push(" = ").bind(value);
        self
    }

    /// `, "column" = time`, in the table's clock.
    pub(crate) fn time(&mut self, column: &str, time: DateTime<Utc>) -> &mut Self {
        let value = self.clock.at(time);
        self.value(column, value)
    }

    /// `, "column" = <expression>`, the expression written by `write`.
    pub(crate) fn expr(&mut self, column: &str, write: impl FnOnce(&mut Sql)) -> &mut Self {
        self.sql.push(", ").ident(column).push(" = ");
        write(self.sql);
        self
    }
}

impl Lease {
    /// The rows of `table` whose `column` is `value`.
    pub(crate) fn of(
        table: &'static str,
        clock: Clock,
        column: &'static str,
        value: impl Into<Value>,
    ) -> Lease {
        Lease {
            table,
            clock,
            key: (column, value.into()),
            holder: None,
        }
    }

    /// Only while `column` still names this holder (the queue's `worker`).
    pub(crate) fn held_by(mut self, column: &'static str, value: impl Into<Value>) -> Lease {
        self.holder = Some((column, value.into()));
        self
    }

    /// Only while `lease_until` is still what this holder last wrote (the sync): a
    /// takeover writes another.
    pub(crate) fn held_until(self, until: DateTime<Utc>) -> Lease {
        let held = self.clock.at(until);
        self.held_by("lease_until", held)
    }

    /// `UPDATE "table" SET "state" = <state>, "lease_until" = <lease_until>`, then `also`.
    fn update(&self, backend: DbBackend, state: Option<&str>, lease_until: Option<DateTime<Utc>>) -> Sql {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE ").ident(self.table).push(" SET ");
        if let Some(state) = state {
            sql.push("\"state\" = ").bind(state.to_owned().into()).push(", ");
        }
        sql.push("\"lease_until\" = ");
        match lease_until {
            Some(until) => sql.bind(self.clock.at(until)),
            None => sql.push("NULL"),
        };
        sql
    }

    /// ` WHERE "key" = ? [AND "holder" = ?]`
    fn matching(&self, sql: &mut Sql) {
        sql.push(" WHERE ")
            .ident(self.key.0)
            .push(" = ")
            .bind(self.key.1.clone());
        if let Some((column, value)) = &self.holder {
            sql.push(" AND ").ident(column).push(" = ").bind(value.clone());
        }
    }

    /// ` AND "state" IN (?, ...)`
    fn in_states(sql: &mut Sql, states: &[&str]) {
        sql.push(" AND \"state\" IN (");
        for (i, state) in states.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind((*state).to_owned().into());
        }
        sql.push(")");
    }

    /// Take the rows: `running` until `until`, with `also`'s columns. With `free`, only
    /// rows in one of its states whose lease is unset or ran out before its time.
    pub(crate) fn claim(
        &self,
        backend: DbBackend,
        until: DateTime<Utc>,
        free: Option<(&[&str], DateTime<Utc>)>,
        also: impl FnOnce(&mut Sets),
    ) -> Statement {
        let mut sql = self.update(backend, Some(RUNNING), Some(until));
        also(&mut Sets {
            sql: &mut sql,
            clock: self.clock,
        });
        self.matching(&mut sql);
        if let Some((states, now)) = free {
            Self::in_states(&mut sql, states);
            sql.push(" AND (\"lease_until\" IS NULL OR \"lease_until\" < ")
                .bind(self.clock.at(now))
                .push(")");
        }
        sql.build()
    }

    /// Push the lease to `until`, while the row is `running` (and still held).
    pub(crate) fn renew(&self, backend: DbBackend, until: DateTime<Utc>) -> Statement {
        let mut sql = self.update(backend, None, Some(until));
        self.matching(&mut sql);
        Self::in_states(&mut sql, &[RUNNING]);
        sql.build()
    }

    /// Move the rows that are in one of `from` (and still held) to `state`, with
    /// `also`'s columns, and free their lease.
    pub(crate) fn end(
        &self,
        backend: DbBackend,
        from: &[&str],
        state: &str,
        also: impl FnOnce(&mut Sets),
    ) -> Statement {
        let mut sql = self.update(backend, Some(state), None);
        also(&mut Sets {
            sql: &mut sql,
            clock: self.clock,
        });
        self.matching(&mut sql);
        Self::in_states(&mut sql, from);
        sql.build()
    }
}

/// How often a holder renews a lease of `length`: three times a lease, so that one
/// late or failed renewal does not lose it.
pub(crate) fn renew_every(length: Duration) -> Duration {
    (length / 3).max(Duration::from_millis(100))
}

/// The heartbeat of a lease: [`Beats::next`] waits for the next renewal. The first
/// comes one period after the lease was taken; a renewal that ran late delays the
/// next ones rather than bunching them.
pub(crate) struct Beats(tokio::time::Interval);

impl Beats {
    pub(crate) fn new(length: Duration) -> Beats {
        let every = renew_every(length);
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Beats(beats)
    }

    pub(crate) async fn next(&mut self) {
        self.0.tick().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn text(statement: &Statement) -> &str {
        &statement.sql
    }

    fn values(statement: &Statement) -> Vec<Value> {
        statement.values.as_ref().map(|v| v.0.clone()).unwrap_or_default()
    }

    #[test]
    fn a_claim_takes_only_a_free_row_in_a_claimable_state() {
        let lease = Lease::of("bigcommerce_sync", Clock::Timestamp, "id", 7i64);
        let claim = lease.claim(
            DbBackend::Postgres,
            time(60_000),
            Some((&["created", "running"], time(1_000))),
            |sets| {
                sets.time("updated_at", time(1_000));
            },
        );
        assert_eq!(
            text(&claim),
            "UPDATE \"bigcommerce_sync\" SET \"state\" = $1, \"lease_until\" = $2, \"updated_at\" = $3 \
             WHERE \"id\" = $4 AND \"state\" IN ($5, $6) AND (\"lease_until\" IS NULL OR \"lease_until\" < $7)"
        );
        assert_eq!(
            values(&claim),
            [
                Value::from("running"),
                time(60_000).into(),
                time(1_000).into(),
                7i64.into(),
                "created".into(),
                "running".into(),
                time(1_000).into(),
            ]
        );
    }

    #[test]
    fn a_picked_row_is_claimed_by_its_key_alone() {
        let lease = Lease::of(
            "bcgraph_background_action",
            Clock::Millis,
            "id",
            "ba-1".to_owned(),
        );
        let claim = lease.claim(DbBackend::Sqlite, time(61_000), None, |sets| {
            sets.value("worker", "w-1".to_owned().into());
        });
        assert_eq!(
            text(&claim),
            "UPDATE \"bcgraph_background_action\" SET \"state\" = ?, \"lease_until\" = ?, \"worker\" = ? \
             WHERE \"id\" = ?"
        );
        assert_eq!(values(&claim)[1], Value::from(61_000i64), "milliseconds");
    }

    #[test]
    fn a_renewal_needs_the_row_running_and_still_held() {
        let by_worker = Lease::of(
            "bcgraph_background_action",
            Clock::Millis,
            "id",
            "ba-1".to_owned(),
        )
        .held_by("worker", "w-1".to_owned())
        .renew(DbBackend::Sqlite, time(90_000));
        assert_eq!(
            text(&by_worker),
            "UPDATE \"bcgraph_background_action\" SET \"lease_until\" = ? \
             WHERE \"id\" = ? AND \"worker\" = ? AND \"state\" IN (?)"
        );
        assert_eq!(
            values(&by_worker),
            [
                Value::from(90_000i64),
                "ba-1".into(),
                "w-1".into(),
                "running".into()
            ]
        );
        let by_lease = Lease::of("bigcommerce_sync", Clock::Timestamp, "id", 7i64)
            .held_until(time(60_000))
            .renew(DbBackend::Postgres, time(90_000));
        assert_eq!(
            text(&by_lease),
            "UPDATE \"bigcommerce_sync\" SET \"lease_until\" = $1 \
             WHERE \"id\" = $2 AND \"lease_until\" = $3 AND \"state\" IN ($4)"
        );
        assert_eq!(values(&by_lease)[2], time(60_000).into());
    }

    #[test]
    fn an_end_frees_the_lease_only_from_the_states_it_may_leave() {
        let end = Lease::of("bigcommerce_sync", Clock::Timestamp, "store_id", 3i64).end(
            DbBackend::Sqlite,
            &["created", "running"],
            "aborted",
            |sets| {
                sets.value("error_message", Value::String(None))
                    .expr("attempts", |sql| {
                        sql.push("\"attempts\" - 1");
                    });
            },
        );
        assert_eq!(
            text(&end),
            "UPDATE \"bigcommerce_sync\" SET \"state\" = ?, \"lease_until\" = NULL, \"error_message\" = ?, \
             \"attempts\" = \"attempts\" - 1 WHERE \"store_id\" = ? AND \"state\" IN (?, ?)"
        );
    }

    #[test]
    fn both_tables_call_a_held_row_running() {
        assert_eq!(crate::queue::State::Running.as_str(), RUNNING);
    }

    #[test]
    fn leases_are_renewed_three_times_per_lease() {
        assert_eq!(renew_every(Duration::from_secs(60)), Duration::from_secs(20));
        assert_eq!(renew_every(Duration::from_millis(90)), Duration::from_millis(100));
        assert_eq!(until(time(1_000), Duration::from_secs(2)), time(3_000));
    }
}
