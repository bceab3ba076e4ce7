//! The strategy database.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::{
    domain::{AwardEntry, LogicModel, RuleTree, Strategy},
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
}

impl DrawRecord {
    /// The record of `drawn` for an order.
    pub fn new(strategy_id: i64, order_id: &str, user_id: &str, drawn: &Drawn) -> Self {
        Self {
            strategy_id,
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            award_id: drawn.award_id,
            award_config: drawn.award_config.clone(),
            rule_model: drawn.model.as_str().to_owned(),
            stock_award_id: drawn.stock_award_id,
        }
    }
}

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
        Ok(sqlx::query_as(
            "SELECT strategy_id, order_id, user_id, award_id, award_config, rule_model, stock_award_id \
             FROM strategy_draw_result WHERE strategy_id = $1 AND order_id = $2",
        )
        .bind(strategy_id)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a draw once; returns the stored record (an earlier one wins).
    pub async fn insert_result(&self, record: &DrawRecord) -> Result<DrawRecord, StrategyError> {
        let inserted = sqlx::query(
            "INSERT INTO strategy_draw_result (strategy_id, order_id, user_id, award_id, award_config, rule_model, stock_award_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (strategy_id, order_id) DO NOTHING",
        )
        .bind(record.strategy_id)
        .bind(&record.order_id)
        .bind(&record.user_id)
        .bind(record.award_id)
        .bind(&record.award_config)
        .bind(&record.rule_model)
        .bind(record.stock_award_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(record.clone());
        }
        self.find_result(record.strategy_id, &record.order_id).await?.ok_or_else(|| {
            StrategyError::Corrupt(format!("draw of order {} vanished after a conflict", record.order_id))
        })
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
    pub async fn sync_surplus(&self, strategy_id: i64, award_id: i32, surplus: i64) -> Result<bool, StrategyError> {
        let surplus = i32::try_from(surplus.max(0)).unwrap_or(i32::MAX);
        Ok(sqlx::query(
            "UPDATE strategy_award SET award_count_surplus = $3, updated_at = now() \
             WHERE strategy_id = $1 AND award_id = $2 AND award_count_surplus > $3",
        )
        .bind(strategy_id)
        .bind(award_id)
        .bind(surplus)
        .execute(&self.pool)
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
