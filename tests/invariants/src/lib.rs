//! The platform's invariants (issue #10), checked from the outside: every service database
//! and Redis are read (never written) and compared.
//!
//! 1. Quota: a user's lifetime quota equals their recharge orders; quota spent equals raffle
//!    orders created.
//! 2. Orders and awards: every `used` raffle order has exactly one award record; every award
//!    record has a raffle order that is `used` (or still `create` after a crash between
//!    RecordAward and CompleteOrder: reported, completed by the user's next draw); the award
//!    recorded is the award strategy-draw recorded for that order.
//! 3. Stock: units handed out never exceed the opening stock, per award and per sku; the
//!    Redis counter equals opening − units recorded; the database view equals Redis (once
//!    the batch sync has run).
//! 4. Delivery: every award record is `completed`, or `parked` with a reason, or younger than
//!    the settle time.
//! 5. Credit: every balance equals the sum of its ledger rows.

use std::collections::{HashMap, HashSet};

use deadpool_redis::redis;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgPool, postgres::PgPoolOptions};

/// Where to read.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The strategy database URL.
    pub strategy_db: String,
    /// The activity database URL.
    pub activity_db: String,
    /// The award database URL.
    pub award_db: String,
    /// Redis.
    pub redis_url: String,
    /// strategy-draw's Redis key prefix.
    pub strategy_redis_prefix: String,
    /// activity-quota's Redis key prefix.
    pub activity_redis_prefix: String,
    /// Award records younger than this many seconds may still be on their way.
    pub settle_secs: i64,
}

/// One invariant's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How many items were looked at.
    pub checked: usize,
    /// What broke it (empty: it holds).
    pub violations: Vec<String>,
    /// What is notable but not a violation.
    pub notes: Vec<String>,
}

/// All outcomes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per invariant.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.checks.iter().all(|c| c.violations.is_empty())
    }

    /// A human summary, one line per invariant plus its first violations.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for check in &self.checks {
            let verdict = if check.violations.is_empty() { "ok  " } else { "FAIL" };
            let _ = write!(out, "{verdict} {:<48} checked {:>7}", check.name, check.checked);
            if !check.violations.is_empty() {
                let _ = write!(out, "  violations {}", check.violations.len());
            }
            if !check.notes.is_empty() {
                let _ = write!(out, "  notes {}", check.notes.len());
            }
            out.push('\n');
            for line in check.violations.iter().take(10) {
                let _ = writeln!(out, "       - {line}");
            }
            for line in check.notes.iter().take(5) {
                let _ = writeln!(out, "       · {line}");
            }
        }
        out.push_str(if self.holds() { "all invariants hold\n" } else { "INVARIANTS VIOLATED\n" });
        out
    }
}

/// Why the check could not run.
#[derive(Debug)]
pub struct CheckError(pub String);

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckError {}

fn failed(what: &str) -> impl Fn(sqlx::Error) -> CheckError + '_ {
    move |e| CheckError(format!("{what}: {e}"))
}

async fn connect(url: &str, what: &str) -> Result<PgPool, CheckError> {
    PgPoolOptions::new().max_connections(2).connect(url).await.map_err(failed(what))
}

type Key = (String, String);

/// Reads everything and checks every invariant.
pub async fn check(sources: &Sources) -> Result<Report, CheckError> {
    let strategy = connect(&sources.strategy_db, "strategy database").await?;
    let activity = connect(&sources.activity_db, "activity database").await?;
    let award = connect(&sources.award_db, "award database").await?;
    let redis = deadpool_redis::Config::from_url(sources.redis_url.clone())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| CheckError(format!("redis: {e}")))?;
    let checks = vec![
        quota(&activity).await?,
        orders_and_awards(&activity, &award, &strategy).await?,
        award_stock(&strategy, &redis, &sources.strategy_redis_prefix).await?,
        sku_stock(&activity, &redis, &sources.activity_redis_prefix).await?,
        delivery(&award, sources.settle_secs).await?,
        credit(&award).await?,
    ];
    Ok(Report { checks })
}

async fn quota(activity: &PgPool) -> Result<Check, CheckError> {
    let rows: Vec<(String, i64, i32, i32, i64, i64)> = sqlx::query_as(
        "SELECT a.user_id, a.activity_id, a.total_count, a.total_count_surplus, \
                COALESCE((SELECT sum(o.total_count) FROM raffle_activity_order o \
                          WHERE o.user_id = a.user_id AND o.activity_id = a.activity_id AND o.state = 'completed'), 0)::BIGINT, \
                (SELECT count(*) FROM user_raffle_order r WHERE r.user_id = a.user_id AND r.activity_id = a.activity_id) \
         FROM raffle_activity_account a",
    )
    .fetch_all(activity)
    .await
    .map_err(failed("quota"))?;
    let mut violations = Vec::new();
    for (user, activity_id, total, surplus, recharged, orders) in &rows {
        if i64::from(*total) != *recharged {
            violations.push(format!("{user}@{activity_id}: total_count {total} but recharge orders grant {recharged}"));
        }
        if i64::from(total - surplus) != *orders {
            violations
                .push(format!("{user}@{activity_id}: quota spent {} but {orders} raffle orders", total - surplus));
        }
    }
    Ok(Check { name: "quota = recharges; spent = raffle orders", checked: rows.len(), violations, notes: Vec::new() })
}

async fn orders_and_awards(activity: &PgPool, award: &PgPool, strategy: &PgPool) -> Result<Check, CheckError> {
    let orders: HashMap<Key, String> =
        sqlx::query_as::<_, (String, String, String)>("SELECT user_id, order_id, order_state FROM user_raffle_order")
            .fetch_all(activity)
            .await
            .map_err(failed("raffle orders"))?
            .into_iter()
            .map(|(u, o, s)| ((u, o), s))
            .collect();
    let records: Vec<(String, String, i32)> =
        sqlx::query_as("SELECT user_id, order_id, award_id FROM user_award_record")
            .fetch_all(award)
            .await
            .map_err(failed("award records"))?;
    let drawn: HashMap<Key, i32> =
        sqlx::query_as::<_, (String, String, i32)>("SELECT user_id, order_id, award_id FROM strategy_draw_result")
            .fetch_all(strategy)
            .await
            .map_err(failed("draw records"))?
            .into_iter()
            .map(|(u, o, a)| ((u, o), a))
            .collect();
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    let mut recorded: HashSet<Key> = HashSet::new();
    for (user, order, award_id) in &records {
        let key = (user.clone(), order.clone());
        if !recorded.insert(key.clone()) {
            violations.push(format!("order {order} of {user} has two award records"));
        }
        match orders.get(&key).map(String::as_str) {
            Some("used") => {}
            Some("create") => notes
                .push(format!("order {order} of {user} is awarded but still `create` (completed by the next draw)")),
            Some(state) => violations.push(format!("order {order} of {user} is awarded but `{state}`")),
            None => violations.push(format!("award record for unknown order {order} of {user}")),
        }
        match drawn.get(&key) {
            Some(drawn_award) if drawn_award == award_id => {}
            Some(drawn_award) => {
                violations.push(format!("order {order}: strategy drew {drawn_award}, award recorded {award_id}"));
            }
            None => violations.push(format!("order {order} of {user} is awarded but strategy recorded no draw")),
        }
    }
    for ((user, order), state) in &orders {
        if state == "used" && !recorded.contains(&(user.clone(), order.clone())) {
            violations.push(format!("used order {order} of {user} has no award record"));
        }
    }
    Ok(Check { name: "used orders <-> award records", checked: orders.len() + records.len(), violations, notes })
}

async fn counters(redis: &deadpool_redis::Pool, keys: &[String]) -> Result<Vec<Option<i64>>, CheckError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut connection = redis.get().await.map_err(|e| CheckError(format!("redis: {e}")))?;
    redis::cmd("MGET").arg(keys).query_async(&mut connection).await.map_err(|e| CheckError(format!("redis: {e}")))
}

/// Compares `(name, opening, handed_out, database_view, redis_key)` rows.
async fn stock(
    name: &'static str,
    rows: Vec<(String, i64, i64, i64, String)>,
    redis: &deadpool_redis::Pool,
) -> Result<Check, CheckError> {
    let keys: Vec<String> = rows.iter().map(|r| r.4.clone()).collect();
    let values = counters(redis, &keys).await?;
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    for ((item, opening, handed_out, database, _), redis_value) in rows.iter().zip(&values) {
        if handed_out > opening {
            violations.push(format!("{item}: {handed_out} handed out of {opening}: OVERSOLD"));
        }
        match redis_value {
            Some(left) if *left != opening - handed_out => {
                violations.push(format!("{item}: Redis says {left} left, records say {}", opening - handed_out));
            }
            Some(left) if left != database => {
                violations.push(format!("{item}: Redis {left}, database view {database}"));
            }
            Some(_) => {}
            None => notes.push(format!("{item}: no Redis counter (rebuilt from the records on next use)")),
        }
    }
    Ok(Check { name, checked: rows.len(), violations, notes })
}

async fn award_stock(strategy: &PgPool, redis: &deadpool_redis::Pool, prefix: &str) -> Result<Check, CheckError> {
    let rows: Vec<(i64, i32, i64, i64, i64)> = sqlx::query_as(
        "SELECT sa.strategy_id, sa.award_id, sa.stock_opening::BIGINT, \
                (SELECT count(*) FROM strategy_draw_result r WHERE r.strategy_id = sa.strategy_id AND r.stock_award_id = sa.award_id), \
                sa.award_count_surplus::BIGINT \
         FROM strategy_award sa ORDER BY 1, 2",
    )
    .fetch_all(strategy)
    .await
    .map_err(failed("award stock"))?;
    let rows = rows
        .into_iter()
        .map(|(sid, aid, opening, used, db)| {
            (
                format!("strategy {sid} award {aid}"),
                opening,
                used,
                db,
                format!("{prefix}strategy:{{{sid}}}:stock:{aid}"),
            )
        })
        .collect();
    stock("award stock: never oversold, Redis = records = db", rows, redis).await
}

async fn sku_stock(activity: &PgPool, redis: &deadpool_redis::Pool, prefix: &str) -> Result<Check, CheckError> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.sku, s.stock_opening::BIGINT, (SELECT count(*) FROM raffle_activity_order o WHERE o.sku = s.sku), \
                s.stock_count_surplus::BIGINT FROM raffle_activity_sku s ORDER BY 1",
    )
    .fetch_all(activity)
    .await
    .map_err(failed("sku stock"))?;
    let rows = rows
        .into_iter()
        .map(|(sku, opening, used, db)| {
            (format!("sku {sku}"), opening, used, db, format!("{prefix}activity:{{{sku}}}:stock"))
        })
        .collect();
    stock("sku stock: never oversold, Redis = records = db", rows, redis).await
}

async fn delivery(award: &PgPool, settle_secs: i64) -> Result<Check, CheckError> {
    let rows: Vec<(String, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT user_id, order_id, award_state, parked_reason, created_at > now() - make_interval(secs => $1::DOUBLE PRECISION) \
         FROM user_award_record",
    )
    .bind(settle_secs)
    .fetch_all(award)
    .await
    .map_err(failed("award delivery"))?;
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    for (user, order, state, reason, recent) in &rows {
        match (state.as_str(), reason.as_deref().unwrap_or("")) {
            ("completed", _) => {}
            ("parked", "") => violations.push(format!("order {order} of {user} parked without a reason")),
            ("parked", reason) => notes.push(format!("order {order} of {user} parked: {reason}")),
            (_, _) if *recent => notes.push(format!("order {order} of {user} still on its way")),
            (state, _) => violations.push(format!("order {order} of {user} stuck in `{state}`")),
        }
    }
    Ok(Check { name: "every award completed or parked with reason", checked: rows.len(), violations, notes })
}

async fn credit(award: &PgPool) -> Result<Check, CheckError> {
    let rows: Vec<(String, Decimal, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.user_id, a.total_amount, a.available_amount, \
                COALESCE((SELECT sum(o.trade_amount) FROM user_credit_order o WHERE o.user_id = a.user_id), 0), \
                COALESCE((SELECT sum(o.trade_amount) FROM user_credit_order o WHERE o.user_id = a.user_id AND o.trade_amount > 0), 0) \
         FROM user_credit_account a",
    )
    .fetch_all(award)
    .await
    .map_err(failed("credit"))?;
    let mut violations = Vec::new();
    for (user, total, available, ledger, earned) in &rows {
        if available != ledger {
            violations.push(format!("{user}: available {available} but ledger sums to {ledger}"));
        }
        if total != earned {
            violations.push(format!("{user}: total {total} but ledger credits sum to {earned}"));
        }
    }
    Ok(Check { name: "credit balances = ledger", checked: rows.len(), violations, notes: Vec::new() })
}
