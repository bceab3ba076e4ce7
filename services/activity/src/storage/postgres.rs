//! The activity database. Every per-user transaction touches one user only and locks that
//! user's account row first, so two partakes or recharges of one user serialise.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    domain::{Account, Activity, ActivityState, Period, QuotaError, RowPlan, SubAccount, plan_partake},
    usecase::ActivityError,
};

/// A raffle order as operators list it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderRow {
    /// The order id.
    pub order_id: String,
    /// Its activity.
    pub activity_id: i64,
    /// The activity's name then.
    pub activity_name: String,
    /// The strategy.
    pub strategy_id: i64,
    /// When it was made.
    pub order_time: DateTime<Utc>,
    /// `create`, `used` or `cancel`.
    pub order_state: String,
}

/// A sku with the quota it grants.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SkuRow {
    /// The sku.
    pub sku: i64,
    /// Its activity.
    pub activity_id: i64,
    /// Its count package.
    pub activity_count_id: i64,
    /// Configured stock.
    pub stock_count: i32,
    /// Database view of stock left.
    pub stock_count_surplus: i32,
    /// Price in credits.
    pub product_amount: Decimal,
    /// Lifetime draws granted.
    pub total_count: i32,
    /// Draws per day granted.
    pub day_count: i32,
    /// Draws per month granted.
    pub month_count: i32,
}

/// A raffle order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RaffleOrder {
    /// The user.
    pub user_id: String,
    /// The order id.
    pub order_id: String,
    /// The activity.
    pub activity_id: i64,
    /// The activity's strategy.
    pub strategy_id: i64,
    /// The activity's end.
    pub end_date_time: DateTime<Utc>,
    /// `create` or `used`.
    pub order_state: String,
}

/// What Partake produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartakeOutcome {
    /// The order to draw with.
    pub order: RaffleOrder,
    /// An existing order was returned; no quota was spent.
    pub reused: bool,
    /// Lifetime partakes including this order.
    pub total_partake_count: i64,
    /// Partakes today including this order.
    pub day_partake_count: i64,
}

/// A recharge to write.
#[derive(Debug, Clone)]
pub struct NewRecharge<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The new order id.
    pub order_id: &'a str,
    /// The caller's idempotency key.
    pub out_business_no: &'a str,
    /// The sku and its quota.
    pub sku: &'a SkuRow,
    /// The activity.
    pub activity: &'a Activity,
    /// When.
    pub now: DateTime<Utc>,
    /// The current day and month.
    pub period: &'a Period,
}

/// What a recharge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RechargeOutcome {
    /// The order and the quota were written.
    Created,
    /// The (user, out_business_no) was recharged before: nothing written.
    Duplicate,
}

/// How a recharge order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    /// Not at all (`rebate_no_pay_trade`): completed at once, quota granted.
    None,
    /// With this much credit (`credit_pay_trade`): `wait_pay` until award's
    /// credit_adjust_success, then completed and granted.
    Credit(Decimal),
}

/// What CompleteOrder did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// `create → used`.
    Changed,
    /// It was `used` already.
    AlreadyUsed,
    /// No such order.
    NotFound,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    activity_id: i64,
    activity_name: String,
    activity_desc: String,
    begin_date_time: DateTime<Utc>,
    end_date_time: DateTime<Utc>,
    strategy_id: i64,
    state: String,
}

impl From<ActivityRow> for Activity {
    fn from(row: ActivityRow) -> Self {
        Self {
            activity_id: row.activity_id,
            activity_name: row.activity_name,
            activity_desc: row.activity_desc,
            begin_time: row.begin_date_time,
            end_time: row.end_date_time,
            strategy_id: row.strategy_id,
            state: ActivityState::parse(&row.state),
        }
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    total_count: i32,
    total_count_surplus: i32,
    day_count: i32,
    day_count_surplus: i32,
    month_count: i32,
    month_count_surplus: i32,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            total_count: row.total_count,
            total_count_surplus: row.total_count_surplus,
            day_count: row.day_count,
            day_count_surplus: row.day_count_surplus,
            month_count: row.month_count,
            month_count_surplus: row.month_count_surplus,
        }
    }
}

const ORDER_COLUMNS: &str = "user_id, order_id, activity_id, strategy_id, end_date_time, order_state";
const SKU_SELECT: &str = "SELECT s.sku, s.activity_id, s.activity_count_id, s.stock_count, s.stock_count_surplus, s.product_amount, \
                                 c.total_count, c.day_count, c.month_count \
                          FROM raffle_activity_sku s JOIN raffle_activity_count c USING (activity_count_id)";

/// Repository of the activity database.
#[derive(Debug, Clone)]
pub struct ActivityStore {
    pool: PgPool,
}

pub(crate) type Tx = Transaction<'static, Postgres>;

impl ActivityStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool (for health checks, parking and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// An activity.
    pub async fn find_activity(&self, activity_id: i64) -> Result<Option<Activity>, ActivityError> {
        Ok(sqlx::query_as::<_, ActivityRow>(
            "SELECT activity_id, activity_name, activity_desc, begin_date_time, end_date_time, strategy_id, state \
             FROM raffle_activity WHERE activity_id = $1",
        )
        .bind(activity_id)
        .fetch_optional(&self.pool)
        .await?
        .map(Activity::from))
    }

    /// A sku with its counts.
    pub async fn find_sku(&self, sku: i64) -> Result<Option<SkuRow>, ActivityError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SKU_SELECT} WHERE s.sku = $1")))
            .bind(sku)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The skus of an activity, by sku.
    pub async fn list_skus(&self, activity_id: i64) -> Result<Vec<SkuRow>, ActivityError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SKU_SELECT} WHERE s.activity_id = $1 ORDER BY s.sku")))
            .bind(activity_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The user's raffle orders (of one activity, or all when `None`), newest first.
    pub async fn user_orders(
        &self,
        user_id: &str,
        activity_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<OrderRow>, ActivityError> {
        Ok(sqlx::query_as(
            "SELECT order_id, activity_id, activity_name, strategy_id, order_time, order_state FROM user_raffle_order \
             WHERE user_id = $1 AND ($2::BIGINT IS NULL OR activity_id = $2) ORDER BY order_time DESC, order_id LIMIT $3",
        )
        .bind(user_id)
        .bind(activity_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A sku's opening stock and the units its recharge orders consumed.
    pub async fn sku_ledger(&self, sku: i64) -> Result<Option<(i64, i64)>, ActivityError> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT s.stock_opening::BIGINT, (SELECT count(*) FROM raffle_activity_order o WHERE o.sku = s.sku) \
             FROM raffle_activity_sku s WHERE s.sku = $1",
        )
        .bind(sku)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the user recharged with this business number before.
    pub async fn recharge_exists(&self, user_id: &str, out_business_no: &str) -> Result<bool, ActivityError> {
        Ok(sqlx::query_as::<_, (bool,)>(
            "SELECT EXISTS (SELECT 1 FROM raffle_activity_order WHERE user_id = $1 AND out_business_no = $2)",
        )
        .bind(user_id)
        .bind(out_business_no)
        .fetch_one(&self.pool)
        .await?
        .0)
    }

    /// Writes a recharge order paid as `payment` says, in one transaction:
    /// [`Payment::None`] (spec §5.1 doSaveNoPayOrder) → completed, with its quota granted
    /// ([`grant_quota`]); [`Payment::Credit`] → `wait_pay` priced at the amount, claimed now,
    /// no quota until it is paid (`ActivityStore::complete_credit_pay`). A repeated
    /// (user, out_business_no) writes nothing.
    pub async fn write_recharge(
        &self,
        recharge: &NewRecharge<'_>,
        payment: Payment,
    ) -> Result<RechargeOutcome, ActivityError> {
        let NewRecharge { user_id, order_id, out_business_no, sku, activity, now, period } = recharge;
        let (state, pay_amount) = match payment {
            Payment::None => ("completed", Decimal::ZERO),
            Payment::Credit(amount) => ("wait_pay", amount),
        };
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO raffle_activity_order (user_id, order_id, sku, activity_id, activity_name, strategy_id, order_time, \
                                                total_count, day_count, month_count, pay_amount, state, out_business_no, claimed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $11, $7) \
             ON CONFLICT (user_id, out_business_no) DO NOTHING",
        )
        .bind(user_id)
        .bind(order_id)
        .bind(sku.sku)
        .bind(activity.activity_id)
        .bind(&activity.activity_name)
        .bind(activity.strategy_id)
        .bind(now)
        .bind(sku.total_count)
        .bind(sku.day_count)
        .bind(sku.month_count)
        .bind(out_business_no)
        .bind(pay_amount)
        .bind(state)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(RechargeOutcome::Duplicate);
        }
        if payment == Payment::None {
            let grant = QuotaGrant { total: sku.total_count, day: sku.day_count, month: sku.month_count };
            grant_quota(&mut tx, user_id, activity.activity_id, grant, period).await?;
        }
        tx.commit().await?;
        Ok(RechargeOutcome::Created)
    }

    /// Partake (spec §5.5, ch.18) in one transaction: a known request id returns its order;
    /// else the user's unused order is reused; else total, month and day quota are deducted
    /// and a new order is created.
    pub async fn partake(
        &self,
        user_id: &str,
        activity: &Activity,
        request_id: Option<&str>,
        new_order_id: &str,
        now: DateTime<Utc>,
        period: &Period,
    ) -> Result<PartakeOutcome, ActivityError> {
        let activity_id = activity.activity_id;
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id {
            let known: Option<RaffleOrder> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM user_raffle_order WHERE user_id = $1 AND order_id = \
                 (SELECT order_id FROM raffle_request WHERE user_id = $1 AND activity_id = $2 AND request_id = $3)"
            )))
            .bind(user_id)
            .bind(activity_id)
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(order) = known {
                return reused(&mut tx, order, period).await;
            }
        }
        // Lock the account row first: two partakes of one user must serialise, or both
        // could take the last unit or both create today's row.
        let account: Option<Account> = sqlx::query_as::<_, AccountRow>(
            "SELECT total_count, total_count_surplus, day_count, day_count_surplus, month_count, month_count_surplus \
             FROM raffle_activity_account WHERE user_id = $1 AND activity_id = $2 FOR UPDATE",
        )
        .bind(user_id)
        .bind(activity_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(Account::from);
        // Then, in a statement of its own (so it sees what a partake that held the lock
        // before us committed; a join with the locking SELECT would not), this month's and
        // today's rows and the newest unused order.
        let (month, day, unused) = period_rows(&mut tx, user_id, activity_id, period).await?;
        if let Some(order_id) = unused {
            let order: RaffleOrder = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM user_raffle_order WHERE user_id = $1 AND order_id = $2"
            )))
            .bind(user_id)
            .bind(&order_id)
            .fetch_one(&mut *tx)
            .await?;
            remember_request(&mut tx, user_id, activity_id, request_id, &order.order_id).await?;
            return reused(&mut tx, order, period).await;
        }
        let plan = plan_partake(account, month, day)?;
        let account = account.ok_or(QuotaError::Total)?;
        // All writes of the partake in one statement (one round trip instead of four or
        // five): we hold the account row's lock and read the period rows after taking it,
        // so the writes' guards (`surplus > 0`) only fail on a row that changed against
        // the plan — that refuses the partake and the transaction rolls back.
        let written: PartakeWritten = sqlx::query_as(partake_writes(plan.month, plan.day))
            .bind(user_id)
            .bind(activity_id)
            .bind(plan.month_image)
            .bind(plan.day_image)
            .bind(&period.month)
            .bind(plan.month.allowance())
            .bind(&period.day)
            .bind(plan.day.allowance())
            .bind(new_order_id)
            .bind(&activity.activity_name)
            .bind(activity.strategy_id)
            .bind(now)
            .bind(activity.end_time)
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?;
        if written.account != 1 {
            return Err(QuotaError::Total.into());
        }
        if written.month != 1 {
            return Err(QuotaError::Month.into());
        }
        if written.day != 1 {
            return Err(QuotaError::Day.into());
        }
        let order = written.order;
        tx.commit().await?;
        let day_count = match plan.day {
            RowPlan::Create { count } => count,
            RowPlan::Decrement => day.map_or(0, |d| d.count),
        };
        Ok(PartakeOutcome {
            order,
            reused: false,
            total_partake_count: i64::from(account.total_count - account.total_count_surplus + 1),
            day_partake_count: i64::from(day_count - plan.day_image),
        })
    }

    /// `create → used`.
    pub async fn complete_order(&self, user_id: &str, order_id: &str) -> Result<CompleteOutcome, ActivityError> {
        let changed = sqlx::query(
            "UPDATE user_raffle_order SET order_state = 'used', updated_at = now() \
             WHERE user_id = $1 AND order_id = $2 AND order_state = 'create'",
        )
        .bind(user_id)
        .bind(order_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 1 {
            return Ok(CompleteOutcome::Changed);
        }
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT order_state FROM user_raffle_order WHERE user_id = $1 AND order_id = $2")
                .bind(user_id)
                .bind(order_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(if exists.is_some() { CompleteOutcome::AlreadyUsed } else { CompleteOutcome::NotFound })
    }

    /// The account and the current month and day rows (for QueryAccount).
    pub async fn account_view(
        &self,
        user_id: &str,
        activity_id: i64,
        period: &Period,
    ) -> Result<(Option<Account>, Option<SubAccount>, Option<SubAccount>), ActivityError> {
        let mut tx = self.pool.begin().await?;
        let account = sqlx::query_as::<_, AccountRow>(
            "SELECT total_count, total_count_surplus, day_count, day_count_surplus, month_count, month_count_surplus \
             FROM raffle_activity_account WHERE user_id = $1 AND activity_id = $2",
        )
        .bind(user_id)
        .bind(activity_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(Account::from);
        let month = sub_account(&mut tx, "month", user_id, activity_id, &period.month).await?;
        let day = sub_account(&mut tx, "day", user_id, activity_id, &period.day).await?;
        tx.commit().await?;
        Ok((account, month, day))
    }

    /// Moves the database view of a sku's stock down to `surplus` (batch sync from Redis).
    pub async fn sync_sku_surplus(
        executor: impl sqlx::PgExecutor<'_>,
        sku: i64,
        surplus: i64,
    ) -> Result<bool, ActivityError> {
        let surplus = i32::try_from(surplus.max(0)).unwrap_or(i32::MAX);
        Ok(sqlx::query(
            "UPDATE raffle_activity_sku SET stock_count_surplus = $2, updated_at = now() WHERE sku = $1 AND stock_count_surplus > $2",
        )
        .bind(sku)
        .bind(surplus)
        .execute(executor)
        .await?
        .rows_affected()
            == 1)
    }
}

/// What a recharge order grants (its sku's count package, copied onto the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaGrant {
    /// Lifetime draws.
    pub total: i32,
    /// Draws per day.
    pub day: i32,
    /// Draws per month.
    pub month: i32,
}

/// Grants a recharge's quota inside `tx` (spec §5.1 doSaveNoPayOrder, §5.3): the account is
/// created or increased on every counter, and the current month and day rows are increased
/// if they exist (a later partake creates them from the account).
pub(crate) async fn grant_quota(
    tx: &mut Tx,
    user_id: &str,
    activity_id: i64,
    grant: QuotaGrant,
    period: &Period,
) -> Result<(), ActivityError> {
    sqlx::query(
        "INSERT INTO raffle_activity_account AS a (user_id, activity_id, total_count, total_count_surplus, day_count, \
                                                   day_count_surplus, month_count, month_count_surplus) \
         VALUES ($1, $2, $3, $3, $4, $4, $5, $5) \
         ON CONFLICT (user_id, activity_id) DO UPDATE SET \
            total_count = a.total_count + $3, total_count_surplus = a.total_count_surplus + $3, \
            day_count = a.day_count + $4, day_count_surplus = a.day_count_surplus + $4, \
            month_count = a.month_count + $5, month_count_surplus = a.month_count_surplus + $5, updated_at = now()",
    )
    .bind(user_id)
    .bind(activity_id)
    .bind(grant.total)
    .bind(grant.day)
    .bind(grant.month)
    .execute(&mut **tx)
    .await?;
    for (kind, period, count) in [("month", &period.month, grant.month), ("day", &period.day, grant.day)] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE raffle_activity_account_{kind} SET {kind}_count = {kind}_count + $4, \
                    {kind}_count_surplus = {kind}_count_surplus + $4, updated_at = now() \
             WHERE user_id = $1 AND activity_id = $2 AND {kind} = $3"
        )))
        .bind(user_id)
        .bind(activity_id)
        .bind(period)
        .bind(count)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn sub_account(
    tx: &mut Tx,
    kind: &str,
    user_id: &str,
    activity_id: i64,
    period: &str,
) -> Result<Option<SubAccount>, ActivityError> {
    let sql = format!(
        "SELECT {kind}_count, {kind}_count_surplus FROM raffle_activity_account_{kind} \
         WHERE user_id = $1 AND activity_id = $2 AND {kind} = $3"
    );
    Ok(sqlx::query_as::<_, (i32, i32)>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(activity_id)
        .bind(period)
        .fetch_optional(&mut **tx)
        .await?
        .map(|(count, surplus)| SubAccount { count, surplus }))
}

/// This month's and today's sub-accounts and the newest unused raffle order, in one round trip.
async fn period_rows(
    tx: &mut Tx,
    user_id: &str,
    activity_id: i64,
    period: &Period,
) -> Result<(Option<SubAccount>, Option<SubAccount>, Option<String>), ActivityError> {
    type Row = (Option<i32>, Option<i32>, Option<i32>, Option<i32>, Option<String>);
    let (month_count, month_surplus, day_count, day_surplus, unused): Row = sqlx::query_as(
        "SELECT m.month_count, m.month_count_surplus, d.day_count, d.day_count_surplus, u.order_id \
         FROM (SELECT 1) AS one \
         LEFT JOIN raffle_activity_account_month m ON m.user_id = $1 AND m.activity_id = $2 AND m.month = $3 \
         LEFT JOIN raffle_activity_account_day d ON d.user_id = $1 AND d.activity_id = $2 AND d.day = $4 \
         LEFT JOIN LATERAL (SELECT order_id FROM user_raffle_order \
                            WHERE user_id = $1 AND activity_id = $2 AND order_state = 'create' \
                            ORDER BY created_at DESC LIMIT 1) AS u ON true",
    )
    .bind(user_id)
    .bind(activity_id)
    .bind(&period.month)
    .bind(&period.day)
    .fetch_one(&mut **tx)
    .await?;
    let row = |count: Option<i32>, surplus: Option<i32>| Some(SubAccount { count: count?, surplus: surplus? });
    Ok((row(month_count, month_surplus), row(day_count, day_surplus), unused))
}

/// What the one write statement of a partake did: rows written per table, and the order.
#[derive(sqlx::FromRow)]
struct PartakeWritten {
    account: i64,
    month: i64,
    day: i64,
    #[sqlx(flatten)]
    order: RaffleOrder,
}

/// The one statement that writes a planned partake: the account's total (and the month and
/// day images), the month and day rows (decremented, or created from the allowance with one
/// unit used), the new order, and the request id when there is one. Parameters: $1 user,
/// $2 activity, $3 / $4 month / day image, $5 / $6 month and its allowance, $7 / $8 day and
/// its allowance, $9 order id, $10 activity name, $11 strategy, $12 order time, $13 end,
/// $14 request id or NULL. One text per plan shape (four, built once), each prepared once
/// per connection.
fn partake_writes(month: RowPlan, day: RowPlan) -> &'static str {
    static TEXTS: LazyLock<[[String; 2]; 2]> =
        LazyLock::new(|| [false, true].map(|month| [false, true].map(|day| partake_writes_text(month, day))));
    let create = |plan: RowPlan| usize::from(matches!(plan, RowPlan::Create { .. }));
    &TEXTS[create(month)][create(day)]
}

/// The text of [`partake_writes`]; `month` / `day`: whether that row is created.
fn partake_writes_text(month: bool, day: bool) -> String {
    let period_write = |kind: &str, create: bool, period: u8, allowance: u8| {
        if create {
            format!(
                "INSERT INTO raffle_activity_account_{kind} (user_id, activity_id, {kind}, {kind}_count, {kind}_count_surplus) \
                 VALUES ($1, $2, ${period}, ${allowance}, ${allowance} - 1) RETURNING 1"
            )
        } else {
            format!(
                "UPDATE raffle_activity_account_{kind} SET {kind}_count_surplus = {kind}_count_surplus - 1, updated_at = now() \
                 WHERE user_id = $1 AND activity_id = $2 AND {kind} = ${period} AND {kind}_count_surplus > 0 RETURNING 1"
            )
        }
    };
    format!(
        "WITH account_row AS (\
           UPDATE raffle_activity_account SET total_count_surplus = total_count_surplus - 1, \
                  month_count_surplus = $3, day_count_surplus = $4, updated_at = now() \
           WHERE user_id = $1 AND activity_id = $2 AND total_count_surplus > 0 RETURNING 1), \
         month_row AS ({month}), day_row AS ({day}), \
         placed AS (\
           INSERT INTO user_raffle_order (user_id, order_id, activity_id, activity_name, strategy_id, order_time, \
                                          order_state, end_date_time) \
           VALUES ($1, $9, $2, $10, $11, $12, 'create', $13) RETURNING {ORDER_COLUMNS}), \
         request AS (\
           INSERT INTO raffle_request (user_id, activity_id, request_id, order_id) \
           SELECT $1, $2, $14, $9 WHERE $14::text IS NOT NULL \
           ON CONFLICT (user_id, activity_id, request_id) DO NOTHING) \
         SELECT (SELECT count(*) FROM account_row) AS account, (SELECT count(*) FROM month_row) AS month, \
                (SELECT count(*) FROM day_row) AS day, placed.* FROM placed",
        month = period_write("month", month, 5, 6),
        day = period_write("day", day, 7, 8),
    )
}

async fn remember_request(
    tx: &mut Tx,
    user_id: &str,
    activity_id: i64,
    request_id: Option<&str>,
    order_id: &str,
) -> Result<(), ActivityError> {
    if let Some(request_id) = request_id {
        sqlx::query(
            "INSERT INTO raffle_request (user_id, activity_id, request_id, order_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, activity_id, request_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(activity_id)
        .bind(request_id)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn reused(tx: &mut Tx, order: RaffleOrder, period: &Period) -> Result<PartakeOutcome, ActivityError> {
    let (total, surplus): (i32, i32) = sqlx::query_as(
        "SELECT total_count, total_count_surplus FROM raffle_activity_account WHERE user_id = $1 AND activity_id = $2",
    )
    .bind(&order.user_id)
    .bind(order.activity_id)
    .fetch_optional(&mut **tx)
    .await?
    .unwrap_or((0, 0));
    let day = sub_account(tx, "day", &order.user_id, order.activity_id, &period.day).await?;
    let outcome = PartakeOutcome {
        total_partake_count: i64::from(total - surplus),
        day_partake_count: day.map_or(0, |d| i64::from(d.count - d.surplus)),
        order,
        reused: true,
    };
    Ok(outcome)
}
