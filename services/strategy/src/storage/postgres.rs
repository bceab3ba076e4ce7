//! The strategy database.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::{
    domain::{AwardEntry, ChainOutcome, LogicModel, RuleTree, Strategy},
    fairness::{Receipt, StockOutcome},
    usecase::{Drawn, StrategyError},
};

/// The durable result of one order's draw.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DrawRecord {
    /// The strategy.
    pub strategy_id: i64,
    /// The raffle order.
    pub order_id: String,
    /// The user.
    pub user_id: String,
    /// The award.
    pub award_id: i32,
    /// The effective config.
    pub award_config: String,
    /// The deciding rule.
    pub rule_model: String,
    /// The award whose stock unit the draw consumed.
    pub stock_award_id: Option<i32>,
    /// The seed epoch the draw used (`None` on draws recorded before verifiable draws).
    pub epoch: Option<i32>,
    /// Input: lifetime partakes including this one.
    pub total_partake_count: Option<i64>,
    /// Input: partakes today including this one.
    pub day_partake_count: Option<i64>,
    /// The chain's rule.
    pub chain_model: Option<String>,
    /// The chain's award.
    pub chain_award_id: Option<i32>,
    /// What the stock node did (`none`, `taken`, `empty`, `held`).
    pub stock_outcome: Option<String>,
}

/// The recorded inputs of a verifiable draw.
#[derive(Debug, Clone)]
pub struct DrawInputs {
    /// The seed epoch.
    pub epoch: i32,
    /// Lifetime partakes including this one.
    pub total_partake_count: i64,
    /// Partakes today including this one.
    pub day_partake_count: i64,
    /// The chain's decision.
    pub chain: ChainOutcome,
    /// What the stock node did.
    pub stock_outcome: StockOutcome,
}

impl DrawRecord {
    /// The record of `drawn` for an order, with the inputs that decided it.
    pub fn new(strategy_id: i64, order_id: &str, user_id: &str, drawn: &Drawn, inputs: &DrawInputs) -> Self {
        Self {
            strategy_id,
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            award_id: drawn.award_id,
            award_config: drawn.award_config.clone(),
            rule_model: drawn.model.as_str().to_owned(),
            stock_award_id: drawn.stock_award_id,
            epoch: Some(inputs.epoch),
            total_partake_count: Some(inputs.total_partake_count),
            day_partake_count: Some(inputs.day_partake_count),
            chain_model: Some(inputs.chain.model.as_str().to_owned()),
            chain_award_id: Some(inputs.chain.award_id),
            stock_outcome: Some(inputs.stock_outcome.as_str().to_owned()),
        }
    }

    /// The receipt of this draw; `None` for a draw recorded before verifiable draws.
    pub fn receipt(&self) -> Option<Receipt> {
        Some(Receipt {
            strategy_id: self.strategy_id,
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            epoch: self.epoch?,
            total_partake_count: self.total_partake_count?,
            day_partake_count: self.day_partake_count?,
            chain_model: self.chain_model.clone()?,
            chain_award_id: self.chain_award_id?,
            stock_outcome: StockOutcome::parse(self.stock_outcome.as_deref()?)?,
            award_id: self.award_id,
            award_config: self.award_config.clone(),
            rule_model: self.rule_model.clone(),
        })
    }
}

/// What recording a draw did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The stored record of the order: this one, or an earlier attempt's.
    Stored(Box<DrawRecord>),
    /// Not recorded: its seed epoch was retired meanwhile (draw again under the new one).
    EpochRetired,
}

const RECORD_COLUMNS: &str = "strategy_id, order_id, user_id, award_id, award_config, rule_model, stock_award_id, \
     epoch, total_partake_count, day_partake_count, chain_model, chain_award_id, stock_outcome";

impl From<DrawRecord> for Drawn {
    fn from(record: DrawRecord) -> Self {
        let model = match record.rule_model.as_str() {
            "rule_blacklist" => LogicModel::Blacklist,
            "rule_weight" => LogicModel::Weight,
            "rule_stock" => LogicModel::Stock,
            "rule_luck_award" => LogicModel::LuckAward,
            _ => LogicModel::Default,
        };
        Self {
            award_id: record.award_id,
            award_config: record.award_config,
            model,
            stock_award_id: record.stock_award_id,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AwardRow {
    award_id: i32,
    award_key: String,
    award_config: String,
    award_title: String,
    award_subtitle: String,
    award_rate: Decimal,
    tree_id: Option<String>,
    sort: i32,
}

impl From<AwardRow> for AwardEntry {
    fn from(row: AwardRow) -> Self {
        Self {
            award_id: row.award_id,
            award_key: row.award_key,
            award_config: row.award_config,
            award_title: row.award_title,
            award_subtitle: row.award_subtitle,
            award_rate: row.award_rate,
            tree_id: row.tree_id,
            sort: row.sort,
        }
    }
}

/// Repository of the strategy database.
#[derive(Debug, Clone)]
pub struct StrategyStore {
    pool: PgPool,
}

impl StrategyStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool (for health checks and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Loads and assembles a strategy; `None` when it does not exist.
    pub async fn load_strategy(&self, strategy_id: i64) -> Result<Option<Strategy>, StrategyError> {
        let Some((rule_models,)) =
            sqlx::query_as::<_, (Option<String>,)>("SELECT rule_models FROM strategy WHERE strategy_id = $1")
                .bind(strategy_id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let awards: Vec<AwardEntry> = sqlx::query_as::<_, AwardRow>(
            "SELECT sa.award_id, a.award_key, a.award_config, sa.award_title, COALESCE(sa.award_subtitle, '') AS award_subtitle, \
                    sa.award_rate, sa.rule_models AS tree_id, sa.sort \
             FROM strategy_award sa JOIN award a USING (award_id) WHERE sa.strategy_id = $1",
        )
        .bind(strategy_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(AwardEntry::from)
        .collect();
        let rules: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT rule_model, rule_value FROM strategy_rule WHERE strategy_id = $1",
        )
        .bind(strategy_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let tree_ids: Vec<String> = awards.iter().filter_map(|a| a.tree_id.clone()).collect();
        let trees = self.load_trees(strategy_id, &tree_ids).await?;
        Ok(Some(Strategy::assemble(strategy_id, rule_models.as_deref(), awards, &rules, trees)?))
    }

    async fn load_trees(
        &self,
        strategy_id: i64,
        tree_ids: &[String],
    ) -> Result<BTreeMap<String, RuleTree>, StrategyError> {
        let roots: Vec<(String, String)> =
            sqlx::query_as("SELECT tree_id, tree_node_rule_key FROM rule_tree WHERE tree_id = ANY($1)")
                .bind(tree_ids)
                .fetch_all(&self.pool)
                .await?;
        let nodes: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT tree_id, rule_key, rule_value FROM rule_tree_node WHERE tree_id = ANY($1) ORDER BY id",
        )
        .bind(tree_ids)
        .fetch_all(&self.pool)
        .await?;
        let lines: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT tree_id, rule_node_from, rule_node_to, rule_limit_type, rule_limit_value \
             FROM rule_tree_node_line WHERE tree_id = ANY($1) ORDER BY id",
        )
        .bind(tree_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut trees = BTreeMap::new();
        for (tree_id, root) in roots {
            let node_rows: Vec<_> =
                nodes.iter().filter(|n| n.0 == tree_id).map(|(_, key, value)| (key.clone(), value.clone())).collect();
            let line_rows: Vec<_> = lines
                .iter()
                .filter(|l| l.0 == tree_id)
                .map(|(_, from, to, kind, value)| (from.clone(), to.clone(), kind.clone(), value.clone()))
                .collect();
            let tree = RuleTree::build(strategy_id, &tree_id, &root, &node_rows, &line_rows)?;
            trees.insert(tree_id, tree);
        }
        Ok(trees)
    }

    /// Whether the strategy exists.
    pub async fn strategy_exists(&self, strategy_id: i64) -> Result<bool, StrategyError> {
        Ok(sqlx::query_as::<_, (bool,)>("SELECT EXISTS (SELECT 1 FROM strategy WHERE strategy_id = $1)")
            .bind(strategy_id)
            .fetch_one(&self.pool)
            .await?
            .0)
    }

    /// The recorded draw of an order.
    pub async fn find_result(&self, strategy_id: i64, order_id: &str) -> Result<Option<DrawRecord>, StrategyError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM strategy_draw_result WHERE strategy_id = $1 AND order_id = $2"
        )))
        .bind(strategy_id)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records draws in one statement (one commit for all of them), each once — an earlier
    /// record of its order wins, also one earlier in `records` — and only while its seed
    /// epoch is active: a draw never lands in an epoch whose seed is revealed. The answers
    /// are in the order of `records`. Rows are written in key order, so two such
    /// statements never wait for each other in a cycle.
    pub async fn insert_results(&self, records: &[DrawRecord]) -> Result<Vec<Recorded>, StrategyError> {
        let mut order: Vec<&DrawRecord> = records.iter().collect();
        order.sort_by(|a, b| (a.strategy_id, &a.order_id).cmp(&(b.strategy_id, &b.order_id)));
        let column = |f: fn(&DrawRecord) -> String| order.iter().map(|r| f(r)).collect::<Vec<_>>();
        let inserted: Vec<DrawRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO strategy_draw_result ({RECORD_COLUMNS}) \
             SELECT {RECORD_COLUMNS} FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::INTEGER[], $5::TEXT[], \
                 $6::TEXT[], $7::INTEGER[], $8::INTEGER[], $9::BIGINT[], $10::BIGINT[], $11::TEXT[], $12::INTEGER[], \
                 $13::TEXT[]) WITH ORDINALITY AS r({RECORD_COLUMNS}, n) \
             WHERE r.epoch IS NULL OR EXISTS (SELECT 1 FROM strategy_seed s \
                 WHERE s.strategy_id = r.strategy_id AND s.epoch = r.epoch AND s.retired_at IS NULL) \
             ORDER BY n \
             ON CONFLICT (strategy_id, order_id) DO NOTHING \
             RETURNING {RECORD_COLUMNS}"
        )))
        .bind(order.iter().map(|r| r.strategy_id).collect::<Vec<_>>())
        .bind(column(|r| r.order_id.clone()))
        .bind(column(|r| r.user_id.clone()))
        .bind(order.iter().map(|r| r.award_id).collect::<Vec<_>>())
        .bind(column(|r| r.award_config.clone()))
        .bind(column(|r| r.rule_model.clone()))
        .bind(order.iter().map(|r| r.stock_award_id).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.epoch).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.total_partake_count).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.day_partake_count).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.chain_model.clone()).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.chain_award_id).collect::<Vec<_>>())
        .bind(order.iter().map(|r| r.stock_outcome.clone()).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        let mut stored: HashMap<(i64, String), DrawRecord> =
            inserted.into_iter().map(|r| ((r.strategy_id, r.order_id.clone()), r)).collect();
        let missing: Vec<&DrawRecord> =
            records.iter().filter(|r| !stored.contains_key(&(r.strategy_id, r.order_id.clone()))).collect();
        if !missing.is_empty() {
            // Recorded earlier (or not at all: a retired epoch).
            let earlier: Vec<DrawRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RECORD_COLUMNS} FROM strategy_draw_result \
                 WHERE (strategy_id, order_id) IN (SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[]))"
            )))
            .bind(missing.iter().map(|r| r.strategy_id).collect::<Vec<_>>())
            .bind(missing.iter().map(|r| r.order_id.clone()).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await?;
            stored.extend(earlier.into_iter().map(|r| ((r.strategy_id, r.order_id.clone()), r)));
        }
        Ok(records
            .iter()
            .map(|r| match stored.get(&(r.strategy_id, r.order_id.clone())) {
                Some(record) => Recorded::Stored(Box::new(record.clone())),
                None => Recorded::EpochRetired,
            })
            .collect())
    }

    /// An award's opening stock and the units consumed by recorded draws; the units
    /// available now are their difference. `None` for an unknown award.
    pub async fn stock_ledger(&self, strategy_id: i64, award_id: i32) -> Result<Option<(i64, i64)>, StrategyError> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT sa.stock_opening::BIGINT, (SELECT count(*) FROM strategy_draw_result r \
                                               WHERE r.strategy_id = sa.strategy_id AND r.stock_award_id = sa.award_id) \
             FROM strategy_award sa WHERE sa.strategy_id = $1 AND sa.award_id = $2",
        )
        .bind(strategy_id)
        .bind(award_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Moves the database view of stock to `surplus` (batch sync from Redis); only ever down.
    pub async fn sync_surplus(
        executor: impl sqlx::PgExecutor<'_>,
        strategy_id: i64,
        award_id: i32,
        surplus: i64,
    ) -> Result<bool, StrategyError> {
        let surplus = i32::try_from(surplus.max(0)).unwrap_or(i32::MAX);
        Ok(sqlx::query(
            "UPDATE strategy_award SET award_count_surplus = $3, updated_at = now() \
             WHERE strategy_id = $1 AND award_id = $2 AND award_count_surplus > $3",
        )
        .bind(strategy_id)
        .bind(award_id)
        .bind(surplus)
        .execute(executor)
        .await?
        .rows_affected()
            == 1)
    }

    /// The database view of an award's stock.
    pub async fn surplus(&self, strategy_id: i64, award_id: i32) -> Result<Option<i32>, StrategyError> {
        Ok(sqlx::query_as::<_, (i32,)>(
            "SELECT award_count_surplus FROM strategy_award WHERE strategy_id = $1 AND award_id = $2",
        )
        .bind(strategy_id)
        .bind(award_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|(s,)| s))
    }
}
